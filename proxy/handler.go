package proxy

import (
	"net/http"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/routes"
)

// ServeHTTP routes a request through the current route table.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.table.Load().Dispatch(w, r) {
		s.writeError(w, r, errNoRoute)
	}
}

// serveRoute serves a request that matched route. WebSocket handshakes go
// to the backend or the built-in handler; plain requests are proxied to a
// backend route's HTTP URL, served by a built-in page, or refused with 426.
func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, route *routes.Matched, params httprouter.Params) {
	t := route.Target
	upgrade := websocket.IsWebSocketUpgrade(r)
	switch {
	case upgrade && t.Pool != nil:
		s.proxyWebSocket(w, r, route, params)
	case upgrade && t.Handler != nil:
		s.serveBuiltin(w, r, route, params)
	case t.Pool != nil:
		s.proxyHTTP(w, r, route, params)
	case t.Page != nil:
		t.Page.ServeHTTP(w, r)
	default:
		s.writeError(w, r, errUpgradeRequired, "route", route.Route.Label())
	}
}
