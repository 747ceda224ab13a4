package proxy

import (
	"net"
	"net/http"
	"strings"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
)

// ServeHTTP routes a request through the current route table.
// The client is who a trusted proxy says, and the allow and deny rules
// come first, before anything about the request is told.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS != nil && s.deps.HSTS != "" {
		w.Header().Set("Strict-Transport-Security", s.deps.HSTS)
	}
	runtime := s.runtime.Load()
	r = fromTrustedProxy(r, runtime.trusted)
	rt, params := runtime.match(r)
	if !runtime.ipRulesFor(rt).admits(clientAddr(r)) {
		s.writeError(w, r, rt, errAddressRefused)
		return
	}
	if rt != nil {
		s.serveRoute(w, r, rt, params)
		return
	}
	if s.redirecting(r) {
		s.redirectToHTTPS(w, r)
		return
	}
	s.writeError(w, r, nil, errNoRoute)
}

// serveRoute serves a request that matched route. WebSocket handshakes go
// to the backend or the built-in handler; plain requests are proxied to a
// backend route's HTTP URL, served by a built-in page, or refused with 426.
func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, rt *route, params httprouter.Params) {
	if s.redirecting(r) && !rt.Plain {
		s.redirectToHTTPS(w, r)
		return
	}
	if isWebSocket(r) {
		// Before anything is dialled or opened: a refused page learns
		// nothing of what is behind the route, and costs nothing.
		if !rt.origins.Allows(r) {
			s.writeError(w, r, rt, errCrossOrigin, "origin", r.Header.Get("Origin"))
			return
		}
		rt.target.serveWebSocket(s, w, r, rt, params)
		return
	}
	if r.Method == http.MethodConnect {
		// Only the extended CONNECT of a WebSocket (above): wsedge
		// tunnels nothing else.
		s.writeError(w, r, rt, errConnect)
		return
	}
	admitted, err := s.authorize(r, rt)
	if err != nil {
		s.writeError(w, r, rt, err)
		return
	}
	rt.target.serveHTTP(s, w, admitted, rt, params)
}

// redirecting reports whether r came in on the plain listener while that
// listener redirects to https.
func (s *Server) redirecting(r *http.Request) bool { return r.TLS == nil && s.redirect.Load().on }

// redirectToHTTPS sends a plain request to the same host and path on the
// https listener. 308 keeps the method and body (RFC 9110 section 15.4.9).
func (s *Server) redirectToHTTPS(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // an IPv6 literal
	}
	http.Redirect(w, r, "https://"+host+s.redirect.Load().portSuffix+r.URL.RequestURI(), http.StatusPermanentRedirect)
}

// isWebSocket reports whether r opens a WebSocket: an HTTP/1.1 upgrade,
// or an HTTP/2 extended CONNECT (RFC 8441).
func isWebSocket(r *http.Request) bool {
	return websocket.IsWebSocketUpgrade(r) || isExtendedConnect(r)
}
