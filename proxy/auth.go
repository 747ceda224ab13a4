package proxy

import (
	"net/http"
	"strconv"

	"github.com/wsedge/wsedge/internal/forwardauth"
)

// authDenied: the route's auth server did not admit the request; the
// client gets the auth server's answer (its status, WWW-Authenticate or
// Location, body), as nginx's auth_request and Traefik's ForwardAuth do.
type authDenied struct{ verdict *forwardauth.Verdict }

func (e *authDenied) Error() string {
	return "auth server refused: " + strconv.Itoa(e.verdict.Status)
}

// authorize asks rt's auth server about r, once the request has passed
// every cheaper check, before anything is dialled or opened. Admitted, it
// returns the request to serve: r with the answer's copy_headers set and
// any copy the client sent removed. Refused, or with the auth server down
// or slow, it returns the error writeError answers with (the auth
// server's answer, 503 or 504: forward auth fails closed).
func (s *Server) authorize(r *http.Request, rt *route) (*http.Request, error) {
	if rt.auth == nil {
		return r, nil
	}
	v, err := rt.auth.Check(r.Context(), r, forwardauth.Client{IP: clientIP(r), Proto: schemeOf(r)})
	if err != nil {
		return nil, err
	}
	if !v.Admit {
		return nil, &authDenied{v}
	}
	r = r.Clone(r.Context()) // a handler must not change the request it was given
	v.ApplyTo(r.Header)
	return r, nil
}

// writeAuthRefusal sends the client the auth server's refusal.
func writeAuthRefusal(w http.ResponseWriter, r *http.Request, v *forwardauth.Verdict) {
	h := w.Header()
	for k, vv := range v.Header {
		h[k] = vv
	}
	h.Set("Content-Length", strconv.Itoa(len(v.Body)))
	w.WriteHeader(v.Status)
	if r.Method != http.MethodHead {
		w.Write(v.Body)
	}
}

// queryAttrs are the log attributes of r's query, if it has one, with
// the values of token and access_token redacted: a bearer token in a URL
// (as browsers' WebSocket API forces on some apps) must not end up in
// logs.
func queryAttrs(r *http.Request) []any {
	if r.URL.RawQuery == "" {
		return nil
	}
	return []any{"query", forwardauth.RedactURI("?" + r.URL.RawQuery)[1:]}
}
