package routes

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"
)

// anyMethod is the one httprouter method every route is registered under:
// the table matches hosts and paths; what a method means is the target's
// business (WebSocket handshakes are GET, proxied plain requests any).
const anyMethod = "ANY"

// Table matches requests to routes. It is built from the configuration
// alone (no I/O, nothing to close), is immutable once built, and is safe
// for concurrent use. What a route points at is not the table's business:
// Match answers which route, by its index in the Config the table was
// built from, and the caller keeps what each index stands for.
type Table struct {
	exact    map[string]*httprouter.Router // by host
	wildcard map[string]*httprouter.Router // by the domain below "*."
	anyHost  *httprouter.Router
}

// New builds a table from a validated Config.
func New(cfg Config) (*Table, error) {
	t := &Table{exact: map[string]*httprouter.Router{}, wildcard: map[string]*httprouter.Router{}}
	for i := range cfg {
		if err := insert(t.routerFor(cfg[i].Host), cfg[i].Path, matchHandle(i)); err != nil {
			return nil, fmt.Errorf("route %s: %w", cfg[i].Label(), err)
		}
	}
	return t, nil
}

// matchHandle is what a route is registered under in its router. A
// router only returns handles, which cannot be compared, so the handle
// of route i tells its index to the matchSlot Match calls it with.
func matchHandle(i int) httprouter.Handle {
	return func(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) { w.(*matchSlot).index = i }
}

// matchSlot receives a matched route's index (see matchHandle). It is an
// http.ResponseWriter only to fit httprouter.Handle; nothing is written.
type matchSlot struct{ index int }

func (*matchSlot) Header() http.Header       { return nil }
func (*matchSlot) Write([]byte) (int, error) { return 0, http.ErrBodyNotAllowed }
func (*matchSlot) WriteHeader(int)           {}

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

// Match finds the route for r: its index in the table's Config and its
// path parameters, or -1 when no route matches. The most specific host
// wins: routes for the exact host first, then its "*." wildcard, then
// routes for any host; a path that none of the exact host's routes match
// falls through to the wildcard's and then to any host's. Paths are
// matched decoded (r.URL.Path), so an encoded slash separates segments
// like a plain one.
func (t *Table) Match(r *http.Request) (int, httprouter.Params) {
	host := normalizeHost(r.Host)
	if i, ps := t.tryRouter(t.exact[host], r); i >= 0 {
		return i, ps
	}
	if parent, ok := wildcardParent(host); ok {
		if i, ps := t.tryRouter(t.wildcard[parent], r); i >= 0 {
			return i, ps
		}
	}
	return t.tryRouter(t.anyHost, r)
}

func (t *Table) tryRouter(router *httprouter.Router, r *http.Request) (int, httprouter.Params) {
	if router == nil {
		return -1, nil
	}
	handle, params, _ := router.Lookup(anyMethod, r.URL.Path)
	if handle == nil {
		return -1, nil
	}
	var slot matchSlot
	handle(&slot, r, params)
	return slot.index, params
}
