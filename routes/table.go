package routes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/upstream"
)

// anyMethod is the one httprouter method every route is registered under:
// the table matches hosts and paths; what a method means is the target's
// business (WebSocket handshakes are GET, proxied plain requests any).
const anyMethod = "ANY"

// Matched is a route as built into a Table.
type Matched struct {
	// Route is the route's configuration.
	Route Route
	// Target is where the route's requests go.
	Target *upstream.Target
}

// ServeFunc serves a request that matched route with params. The proxy
// provides it when it builds a table.
type ServeFunc func(w http.ResponseWriter, r *http.Request, route *Matched, params httprouter.Params)

// Table matches requests to routes. It is immutable once built and safe
// for concurrent use.
type Table struct {
	exact    map[string]*httprouter.Router // by host
	wildcard map[string]*httprouter.Router // by the domain below "*."
	anyHost  *httprouter.Router
	routes   []*Matched
}

// New builds a table from a validated Config: every route's target is
// built with env, and matching requests are handed to serve.
func New(cfg Config, env upstream.Env, serve ServeFunc) (*Table, error) {
	t := &Table{exact: map[string]*httprouter.Router{}, wildcard: map[string]*httprouter.Router{}}
	for i := range cfg {
		target, err := upstream.New(cfg[i].Config, env)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("route %s: %w", cfg[i].Label(), err)
		}
		m := &Matched{Route: cfg[i], Target: target}
		t.routes = append(t.routes, m)
		handle := func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) { serve(w, r, m, ps) }
		if err := insert(t.routerFor(m.Route.Host), m.Route.Path, handle); err != nil {
			t.Close()
			return nil, fmt.Errorf("route %s: %w", m.Route.Label(), err)
		}
	}
	return t, nil
}

// routerFor returns, creating it if needed, the router for a configured host.
func (t *Table) routerFor(host string) *httprouter.Router {
	host = normalizeHost(host)
	switch {
	case host == "":
		if t.anyHost == nil {
			t.anyHost = httprouter.New()
		}
		return t.anyHost
	case strings.HasPrefix(host, "*."):
		return routerIn(t.wildcard, host[2:])
	default:
		return routerIn(t.exact, host)
	}
}

func routerIn(m map[string]*httprouter.Router, key string) *httprouter.Router {
	r := m[key]
	if r == nil {
		r = httprouter.New()
		m[key] = r
	}
	return r
}

// RunHealthChecks runs the active health checks of every route's backends
// until ctx is done, and returns once they have all stopped. The table's
// owner runs it and waits for it.
func (t *Table) RunHealthChecks(ctx context.Context) {
	var wg sync.WaitGroup
	for _, m := range t.routes {
		if m.Target.Pool != nil {
			wg.Go(func() { m.Target.Pool.RunHealthChecks(ctx) })
		}
	}
	wg.Wait()
}

// Close releases what the routes' targets hold open. Live connections keep
// working; Close is for a table no request will reach again.
func (t *Table) Close() error {
	var errs []error
	for _, m := range t.routes {
		errs = append(errs, m.Target.Close())
	}
	return errors.Join(errs...)
}

// Dispatch finds the route for r and serves r through it, and reports
// whether a route matched. The most specific host wins: routes for the
// exact host first, then its "*." wildcard, then routes for any host; a
// path that none of the exact host's routes match falls through to the
// wildcard's and then to any host's. Paths are matched decoded
// (r.URL.Path), so an encoded slash separates segments like a plain one.
func (t *Table) Dispatch(w http.ResponseWriter, r *http.Request) bool {
	host := normalizeHost(r.Host)
	if t.tryRouter(t.exact[host], w, r) {
		return true
	}
	if parent, ok := wildcardParent(host); ok && t.tryRouter(t.wildcard[parent], w, r) {
		return true
	}
	return t.tryRouter(t.anyHost, w, r)
}

func (t *Table) tryRouter(router *httprouter.Router, w http.ResponseWriter, r *http.Request) bool {
	if router == nil {
		return false
	}
	handle, params, _ := router.Lookup(anyMethod, r.URL.Path)
	if handle == nil {
		return false
	}
	handle(w, r, params)
	return true
}
