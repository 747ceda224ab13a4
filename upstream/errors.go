package upstream

import "errors"

// Sentinel errors a caller classifies to choose an HTTP status. The proxy
// maps them in one place (proxy.statusFor).
var (
	// ErrBadParam: a route parameter would change the backend URL's
	// structure (a "." or ".." segment). The request is refused before any
	// backend is contacted.
	ErrBadParam = errors.New("route parameter not allowed in backend path")
	// ErrNotFound: a built-in handler has nothing at this path.
	ErrNotFound = errors.New("not found")
	// ErrDialsBusy: the backend had limits.max_backend_dials dials in
	// progress for as long as the handshake could wait. The proxy answers
	// 503 with Retry-After.
	ErrDialsBusy = errors.New("backend has too many dials in progress")
)
