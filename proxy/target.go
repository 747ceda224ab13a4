package proxy

import (
	"context"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/upstream"
)

// target is what a route points at. The proxy serves every route through
// it and never asks what kind of target it has: a backend pool
// (poolTarget), a built-in WebSocket handler (handlerTarget) or a built-in
// page (pageTarget). upstream builds the pools and built-ins; these small
// adapters say how the proxy serves each.
type target interface {
	// serveWebSocket serves a WebSocket handshake on rt.
	serveWebSocket(s *Server, w http.ResponseWriter, r *http.Request, rt *route, params httprouter.Params)
	// serveHTTP serves a plain HTTP request on rt.
	serveHTTP(s *Server, w http.ResponseWriter, r *http.Request, rt *route, params httprouter.Params)
	// run does the target's background work (health checks) until ctx is
	// done, and returns when it has stopped.
	run(ctx context.Context)
	// close releases what the target holds open; connections it serves
	// are not affected.
	close() error
	// backends lists the target's backends (none for built-ins).
	backends() []*upstream.Backend
}

// newTarget builds what a validated route configuration points at;
// prevBackends are those the route had before a reload (see NewPool).
func newTarget(cfg upstream.Config, env upstream.Env, prevBackends []*upstream.Backend) (target, error) {
	switch cfg.Kind() {
	case upstream.KindBackends:
		pool, err := upstream.NewPool(cfg, env, prevBackends)
		return poolTarget{pool}, err
	case upstream.KindPage:
		page, err := upstream.NewPage(cfg)
		return pageTarget{page}, err
	}
	h, err := upstream.NewHandler(cfg, env)
	return handlerTarget{h}, err
}

// poolTarget proxies WebSocket and plain requests to a pool's backends.
type poolTarget struct{ pool *upstream.Pool }

func (t poolTarget) serveWebSocket(s *Server, w http.ResponseWriter, r *http.Request, rt *route, params httprouter.Params) {
	s.proxyWebSocket(w, r, rt, t.pool, params)
}

func (t poolTarget) serveHTTP(s *Server, w http.ResponseWriter, r *http.Request, rt *route, params httprouter.Params) {
	s.proxyHTTP(w, r, rt, t.pool, params)
}

func (t poolTarget) run(ctx context.Context) { t.pool.RunHealthChecks(ctx) }

// close closes the idle keep-alive connections of the backends' plain
// HTTP transports; requests under way finish.
func (t poolTarget) close() error {
	for _, b := range t.pool.Backends() {
		b.CloseIdleConnections()
	}
	return nil
}

func (t poolTarget) backends() []*upstream.Backend { return t.pool.Backends() }

// handlerTarget serves WebSocket clients with a built-in handler; a plain
// request gets 426 Upgrade Required.
type handlerTarget struct{ h upstream.Handler }

func (t handlerTarget) serveWebSocket(s *Server, w http.ResponseWriter, r *http.Request, rt *route, params httprouter.Params) {
	s.serveBuiltin(w, r, rt, t.h, params)
}

func (t handlerTarget) serveHTTP(s *Server, w http.ResponseWriter, r *http.Request, rt *route, _ httprouter.Params) {
	s.writeError(w, r, rt, errUpgradeRequired)
}

func (t handlerTarget) run(context.Context)           {}
func (t handlerTarget) close() error                  { return t.h.Close() }
func (t handlerTarget) backends() []*upstream.Backend { return nil }

// pageTarget answers every request, upgrade or not, with a built-in page.
type pageTarget struct{ page http.Handler }

func (t pageTarget) serveWebSocket(_ *Server, w http.ResponseWriter, r *http.Request, _ *route, _ httprouter.Params) {
	t.page.ServeHTTP(w, r)
}

func (t pageTarget) serveHTTP(_ *Server, w http.ResponseWriter, r *http.Request, _ *route, _ httprouter.Params) {
	t.page.ServeHTTP(w, r)
}

func (t pageTarget) run(context.Context)           {}
func (t pageTarget) close() error                  { return nil }
func (t pageTarget) backends() []*upstream.Backend { return nil }
