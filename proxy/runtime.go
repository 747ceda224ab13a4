package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"sync"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/forwardauth"
	"github.com/wsedge/wsedge/internal/netset"
	"github.com/wsedge/wsedge/internal/origin"
	"github.com/wsedge/wsedge/internal/reactor"
	"github.com/wsedge/wsedge/routes"
	"github.com/wsedge/wsedge/upstream"
)

// Runtime is what a configuration's routes build: the route table and,
// for every route, what it points at (backend pools with their transports
// and health checks, built-in handlers). Building does the routes' I/O
// once (CA bundles are read, tail roots opened); Validate never does. The
// Server that serves a runtime runs its health checks and closes it; a
// reload builds another and swaps it in (issue 9).
type Runtime struct {
	table  *routes.Table
	routes []*route // by index in the configuration
	env    targetSettings
	// trusted are the trusted_proxies; ips the top-level allow and deny,
	// for requests no route matches.
	trusted netset.Set
	ips     ipRules
	// checkers are the routes' forward auth checkers, the runtime's own.
	checkers []*forwardauth.Checker

	stopHealth context.CancelFunc // nil while health checks are not running
	health     sync.WaitGroup
}

// route is a configured route with what it points at.
type route struct {
	routes.Route
	target target
	// traffic counts what the relay forwards on the route; nil without
	// metrics. The server attaches it before the runtime serves.
	traffic *traffic
	// runtime is the runtime the route belongs to.
	runtime *Runtime
	// origins says which pages may open a WebSocket on the route.
	origins origin.Policy
	// ips are the client networks the route admits.
	ips ipRules
	// messageRate bounds what each client of the route may send: the
	// route's limits.client_message_rate, else the top-level one.
	messageRate conftypes.MessageRate
	// auth asks an auth server about each request; nil: none.
	auth *forwardauth.Checker
}

// targetSettings are the settings outside the routes that targets are
// built with (see targetEnv): a target is reused by a reload only if
// they are unchanged.
type targetSettings struct {
	handshakeTimeout, dialTimeout, writeTimeout, pingInterval int64
	maxDials                                                  int
}

// Build builds the runtime of a validated Config. prev, if not nil, is
// the runtime it is to replace: a route whose target is configured
// exactly as one of prev's routes' keeps that target (a handler keeps its
// state), and a route whose pool changed keeps, for each backend whose
// URL it still has, that backend's connection count and health. Every
// route that cannot be built is reported, as conftypes.FieldErrors under
// "routes[i]", so the configuration's reader can name the file and line.
func Build(cfg Config, deps BuildDeps, prev *Runtime) (*Runtime, error) {
	table, err := routes.New(cfg.Routes)
	if err != nil {
		return nil, fmt.Errorf("build routes: %w", err)
	}
	rt := &Runtime{table: table, env: settingsOf(cfg)}
	// Validated: nothing here fails.
	rt.trusted, _ = netset.Parse("trusted_proxies", cfg.TrustedProxies)
	rt.ips = parseIPRules(cfg.Allow, cfg.Deny)
	env := targetEnv(cfg, deps.Log)
	var errs []error
	for i := range cfg.Routes {
		t := rt.reusable(prev, &cfg.Routes[i].Config)
		if t == nil {
			if t, err = newTarget(cfg.Routes[i].Config, deps.routeEnv(env, cfg.Routes[i].Label()), prev.backendsOf(cfg.Routes[i].Label())); err != nil {
				errs = append(errs, conftypes.Under(fmt.Sprintf("routes[%d]", i), err))
				continue
			}
		}
		policy, _ := origin.Parse(originsOf(cfg, &cfg.Routes[i])) // validated
		ips := rt.ips
		if r := &cfg.Routes[i]; r.Allow != nil || r.Deny != nil {
			ips = parseIPRules(r.Allow, r.Deny)
		}
		rate := cfg.Limits.ClientMessageRate
		if own := cfg.Routes[i].Limits.ClientMessageRate; own != nil {
			rate = *own
		}
		rt.routes = append(rt.routes, &route{Route: cfg.Routes[i], target: t, runtime: rt, origins: policy, ips: ips,
			messageRate: rate, auth: rt.checkerFor(cfg.Auth, cfg.Routes[i].Auth)})
	}
	if len(errs) > 0 {
		rt.closeExcept(prev)
		return nil, errors.Join(errs...)
	}
	return rt, nil
}

// BuildDeps are what Build needs from the process besides the
// configuration: they are the same for every runtime it builds.
type BuildDeps struct {
	// Log receives the targets' log lines. Required.
	Log *slog.Logger
	// Rooms, if set, gives each route's broadcast rooms their link to the
	// other instances of a cluster (issue 12), by the route's label,
	// which names the route alike on every instance. Nil: rooms are this
	// instance's alone.
	Rooms func(route string) upstream.RoomBus
}

// routeEnv is env for the route labelled label.
func (d BuildDeps) routeEnv(env upstream.Env, label string) upstream.Env {
	if d.Rooms != nil {
		env.Rooms = d.Rooms(label)
	}
	return env
}

func settingsOf(cfg Config) targetSettings {
	return targetSettings{
		handshakeTimeout: int64(cfg.Limits.HandshakeTimeout),
		dialTimeout:      int64(cfg.Limits.DialTimeout),
		writeTimeout:     int64(cfg.Limits.WriteTimeout),
		pingInterval:     int64(cfg.Keepalive.PingInterval),
		maxDials:         cfg.Limits.MaxBackendDials,
	}
}

// reusable returns a target of prev's configured as cfg that no route of
// rt uses yet, or nil: routes configured alike keep a target each, as
// they had.
func (rt *Runtime) reusable(prev *Runtime, cfg *upstream.Config) target {
	if prev == nil || prev.env != rt.env {
		return nil
	}
	for _, old := range prev.routes {
		if reflect.DeepEqual(old.Config, *cfg) && !rt.uses(old.target) {
			return old.target
		}
	}
	return nil
}

// backendsOf returns the backends of rt's route labelled label, if any;
// a nil rt has none.
func (rt *Runtime) backendsOf(label string) []*upstream.Backend {
	if rt == nil {
		return nil
	}
	for _, r := range rt.routes {
		if r.Label() == label {
			return r.target.backends()
		}
	}
	return nil
}

// originsOf is r's Origin policy: its own, else cfg's, else same-host for
// a built-in handler and any for backends (which see Origin and decide).
func originsOf(cfg Config, r *routes.Route) []string {
	switch {
	case r.Origins != nil:
		return r.Origins
	case cfg.Origins != nil:
		return cfg.Origins
	case r.Kind() == upstream.KindBackends:
		return []string{origin.Any}
	}
	return []string{origin.SameHost}
}

// targetEnv is what the targets of cfg's routes are built with.
func targetEnv(cfg Config, log *slog.Logger) upstream.Env {
	handshakeTimeout := cfg.Limits.HandshakeTimeout.D()
	return upstream.Env{
		Log:         log,
		DialTimeout: cfg.Limits.DialTimeout.D(),
		Dialer: websocket.Dialer{
			HandshakeTimeout: handshakeTimeout,
			ReadBufferSize:   backendReadBufferSize,
			// gorilla dials only active health checks, which write
			// their request and a close frame.
			WriteBufferPool: &sync.Pool{},
		},
		Transport:    newTransport(handshakeTimeout),
		WriteTimeout: cfg.Limits.WriteTimeout.D(),
		WrapConn:     reactor.Wrap,
		TCPKeepAlive: tcpKeepAlive(cfg.Keepalive.PingInterval.D()),
		MaxDials:     cfg.Limits.MaxBackendDials,
	}
}

// parseIPRules builds validated allow and deny lists.
func parseIPRules(allow, deny []string) ipRules {
	a, _ := netset.Parse("allow", allow)
	d, _ := netset.Parse("deny", deny)
	return ipRules{allow: a, deny: d}
}

// ipRulesFor are the allow and deny rules of rt, or the top-level ones
// for a request no route matched (nil).
func (r *Runtime) ipRulesFor(rt *route) ipRules {
	if rt == nil {
		return r.ips
	}
	return rt.ips
}

// match finds the route for r, or nil.
func (rt *Runtime) match(r *http.Request) (*route, httprouter.Params) {
	i, params := rt.table.Match(r)
	if i < 0 {
		return nil, nil
	}
	return rt.routes[i], params
}

// keeps reports whether a connection opened on old, to backend b (nil
// for a built-in), still belongs once rt serves: a route of the same name
// (or host and path) is still configured, with the same handler, and b is
// still one of its backends.
func (rt *Runtime) keeps(old *route, b *upstream.Backend) bool {
	label := old.Label()
	for _, r := range rt.routes {
		if r.Label() != label || r.Handler != old.Handler {
			continue
		}
		return b == nil || slices.ContainsFunc(r.target.backends(), func(nb *upstream.Backend) bool { return nb.String() == b.String() })
	}
	return false
}

// startHealthChecks starts the active health checks of every route's
// backends; stopHealthChecks stops them and waits.
func (rt *Runtime) startHealthChecks() {
	ctx, cancel := context.WithCancel(context.Background())
	rt.stopHealth = cancel
	for _, r := range rt.routes {
		rt.health.Go(func() { r.target.run(ctx) })
	}
}

func (rt *Runtime) stopHealthChecks() {
	if rt.stopHealth != nil {
		rt.stopHealth()
		rt.health.Wait()
		rt.stopHealth = nil
	}
}

// Close stops the health checks and releases what the routes' targets
// hold open. Connections they serve keep working; Close is for a runtime
// no request will reach again.
func (rt *Runtime) Close() error {
	rt.stopHealthChecks()
	return rt.closeExcept(nil)
}

// checkerFor is the forward auth checker of a route configured with
// own, under the top-level global: the route's own, else one shared by
// the routes that inherit global, else nil.
func (rt *Runtime) checkerFor(global, own *forwardauth.Config) *forwardauth.Checker {
	cfg := own
	if cfg == nil {
		cfg = global
	}
	if cfg == nil || !cfg.Enabled() {
		return nil
	}
	if own == nil {
		for _, r := range rt.routes {
			if r.Auth == nil && r.auth != nil {
				return r.auth
			}
		}
	}
	c := forwardauth.New(*cfg)
	rt.checkers = append(rt.checkers, c)
	return c
}

// closeExcept closes the targets that next does not also use, and the
// runtime's auth checkers' idle connections.
func (rt *Runtime) closeExcept(next *Runtime) error {
	for _, c := range rt.checkers {
		c.Close()
	}
	var errs []error
	for _, r := range rt.routes {
		if !next.uses(r.target) {
			errs = append(errs, r.target.close())
		}
	}
	return errors.Join(errs...)
}

// uses reports whether one of rt's routes points at t; a nil rt uses
// nothing.
func (rt *Runtime) uses(t target) bool {
	if rt == nil {
		return false
	}
	for _, r := range rt.routes {
		if r.target == t {
			return true
		}
	}
	return false
}
