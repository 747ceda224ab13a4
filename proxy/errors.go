package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/wsedge/wsedge/internal/forwardauth"
	"github.com/wsedge/wsedge/upstream"
)

var (
	// errNoRoute: no route matches the request's host and path.
	errNoRoute = errors.New("no route matches")
	// errDraining: the server is shutting down and takes no new sockets.
	errDraining = errors.New("server is shutting down")
	// errCrossOrigin: the route's Origin policy does not admit the page.
	errCrossOrigin = &refusal{http.StatusForbidden, "Origin not allowed on this route"}
	// errAddressRefused: the client's address is denied, or not allowed,
	// by the route's (or the top-level) allow and deny rules.
	errAddressRefused = &refusal{http.StatusForbidden, "client address not allowed"}
	// errBackendSubprotocol: the backend chose a subprotocol the client
	// did not offer; the client gets 502.
	errBackendSubprotocol = errors.New("backend chose a subprotocol the client did not offer")
	// errConnect: a CONNECT that is not a WebSocket's (RFC 8441).
	errConnect = &refusal{http.StatusMethodNotAllowed, "CONNECT is only for WebSockets over HTTP/2"}
	// errUpgradeRequired: a built-in WebSocket handler got a plain request.
	errUpgradeRequired = errors.New("this route only takes WebSocket connections")
)

// refusal is a request the proxy refuses before contacting any backend,
// with its status: a malformed handshake (the status RFC 6455 section
// 4.2.2 asks for), or a client the route's rules do not admit.
type refusal struct {
	status int
	reason string
}

func (e *refusal) Error() string { return e.reason }

// statusFor is the one place that maps an error to the HTTP status the
// client gets.
func statusFor(err error) int {
	var he *refusal
	var le *limitError
	var ad *authDenied
	var ne net.Error
	var nb *upstream.NoBackendError
	var rl *upstream.RoomLimitError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.As(err, &le):
		return le.status
	case errors.As(err, &ad):
		return ad.verdict.Status
	case errors.Is(err, forwardauth.ErrTimeout):
		return http.StatusGatewayTimeout
	case errors.As(err, &nb), errors.As(err, &rl), errors.Is(err, upstream.ErrDialsBusy), errors.Is(err, forwardauth.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errNoRoute), errors.Is(err, upstream.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, upstream.ErrBadParam):
		return http.StatusBadRequest
	case errors.Is(err, errUpgradeRequired):
		return http.StatusUpgradeRequired
	case errors.Is(err, errDraining):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout
	default:
		return http.StatusBadGateway
	}
}

// clientMessage is the short body sent with a status: enough for a person
// to understand, nothing about backend addresses.
func clientMessage(status int, err error) string {
	var le *limitError
	var rl *upstream.RoomLimitError
	switch {
	case errors.Is(err, errDraining):
		return "service unavailable: the server is shutting down"
	case errors.As(err, &le) && status == http.StatusTooManyRequests:
		return "too many requests: too many WebSocket handshakes from this address, retry later"
	case errors.As(err, &le):
		return "service unavailable: connection limit reached (" + le.limit + "), retry later"
	case errors.As(err, &rl):
		return "service unavailable: room limit reached (" + rl.Limit + "), retry later"
	case errors.Is(err, upstream.ErrDialsBusy):
		return "service unavailable: the backend is busy, retry later"
	case errors.Is(err, forwardauth.ErrUnavailable):
		return "service unavailable: authentication is unavailable"
	case errors.Is(err, forwardauth.ErrTimeout):
		return "gateway timeout: authentication did not answer in time"
	}
	switch status {
	case http.StatusBadGateway:
		return "bad gateway: the backend is unavailable"
	case http.StatusGatewayTimeout:
		return "gateway timeout: the backend did not answer in time"
	case http.StatusUpgradeRequired:
		return "upgrade required: this route only takes WebSocket connections"
	case http.StatusServiceUnavailable:
		return "service unavailable: no backend can take the request now"
	}
	return http.StatusText(status)
}

// writeError answers a request that failed before any response was sent,
// and logs why: gateway errors at warn, refusals (limits included) at
// info, a few lines a second per status at most (see logLimiter).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, rt *route, err error, attrs ...any) {
	status := statusFor(err)
	if status == http.StatusUpgradeRequired || isWebSocket(r) {
		s.metrics.handshake(rt, strconv.Itoa(status))
	}
	limit := limitOf(err)
	if limit != "" {
		s.metrics.limitRefused(rt, limit)
	}
	if rt != nil {
		attrs = append([]any{"route", rt.Label()}, attrs...)
	}
	h := w.Header()
	switch status {
	case http.StatusUpgradeRequired:
		h.Set("Upgrade", "websocket")
		h.Set("Connection", "Upgrade")
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		h.Set("Retry-After", retryAfter(err))
	}
	var he *refusal
	if errors.As(err, &he) && status == http.StatusUpgradeRequired {
		// RFC 6455 section 4.4: name the version we speak.
		h.Set("Sec-WebSocket-Version", "13")
	}
	if ad := (*authDenied)(nil); errors.As(err, &ad) {
		writeAuthRefusal(w, r, ad.verdict)
	} else {
		http.Error(w, clientMessage(status, err), status)
	}
	ok, suppressed := s.refusalLog.allow(status, time.Now())
	if !ok {
		return
	}
	level := slog.LevelInfo
	if status >= 500 && !fullLimit(err) {
		level = slog.LevelWarn // a gateway error; a full limit is the edge's own policy
	}
	if limit != "" {
		attrs = append(attrs, "limit", limit)
	}
	attrs = append(append([]any{"status", status, "path", r.URL.Path}, queryAttrs(r)...), append([]any{"client", r.RemoteAddr, "err", err}, attrs...)...)
	if suppressed > 0 {
		attrs = append(attrs, "suppressed_since_last", suppressed)
	}
	s.log.Log(r.Context(), level, "request refused", attrs...)
}

// fullLimit reports whether err is one of the edge's own limits being
// full (a connection limit, a broadcast room's), not a backend's trouble.
func fullLimit(err error) bool {
	var le *limitError
	var rl *upstream.RoomLimitError
	return errors.As(err, &le) || errors.As(err, &rl)
}

// limitOf names the limit that refused a request, or "" if none did.
func limitOf(err error) string {
	var le *limitError
	var rl *upstream.RoomLimitError
	switch {
	case errors.As(err, &le):
		return le.limit
	case errors.As(err, &rl):
		return rl.Limit
	case errors.Is(err, upstream.ErrDialsBusy):
		return limitBackendDials
	}
	return ""
}

// retryAfter is the Retry-After value for a 503 or 429: when the first
// backend may be back, when the client's handshake rate allows another,
// or a few seconds (a full connection limit or broadcast room, a busy
// backend, a drain).
func retryAfter(err error) string {
	var nb *upstream.NoBackendError
	var le *limitError
	switch {
	case errors.As(err, &nb):
		return nb.RetryAfterSeconds()
	case errors.As(err, &le):
		return le.retryAfterSeconds()
	}
	return "5"
}
