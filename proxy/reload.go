package proxy

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/upstream"
)

// A reload (issue 9) replaces the runtime (the route table and what the
// routes point at), the listeners whose address changed, and the
// keepalive and limits new connections get. New handshakes use the new
// routes at once; a live connection keeps the route, backend and settings
// it was opened with, so a change elsewhere in the file drops nothing. Targets configured exactly as
// before are kept (a pool keeps its backends' health and connection
// counts). A connection whose route is gone, or whose backend left its
// route's pool, is closed with 1012, spread over shutdown.close_spread.

// ErrNeedsRestart refuses a reload that changes a section which takes
// effect only when wsedge starts.
var ErrNeedsRestart = errors.New("changed: this section takes effect at a restart, not a reload")

// Runtime returns the runtime serving now: the prev of the next Build.
func (s *Server) Runtime() *Runtime { return s.runtime.Load() }

// Reloadable reports, as conftypes.FieldErrors, what in cfg a reload
// cannot apply: the relay and shutdown sections, listen.http2 and
// limits.max_header_bytes (they take effect at a restart), and turning
// keepalive pings on or off (the listeners' TCP
// keepalive, set when they were bound, follows it). A reload that
// changes one is refused as a whole.
func (s *Server) Reloadable(cfg Config) error {
	var errs []error
	for _, sec := range []struct {
		path     string
		old, new any
	}{
		{"relay", s.cfg.Relay, cfg.Relay},
		{"shutdown", s.cfg.Shutdown, cfg.Shutdown},
	} {
		if !reflect.DeepEqual(sec.old, sec.new) {
			errs = append(errs, conftypes.Field(sec.path, ErrNeedsRestart))
		}
	}
	if s.cfg.Limits.MaxHeaderBytes != cfg.Limits.MaxHeaderBytes {
		errs = append(errs, conftypes.Field("limits.max_header_bytes", ErrNeedsRestart))
	}
	if s.cfg.Listen.http2() != cfg.Listen.http2() {
		errs = append(errs, conftypes.Field("listen.http2", ErrNeedsRestart))
	}
	if (s.cfg.Keepalive.PingInterval > 0) != (cfg.Keepalive.PingInterval > 0) {
		errs = append(errs, conftypes.Field("keepalive.ping_interval", errors.New("turning pings on or off takes a restart (the listeners' TCP keepalive follows it); other values reload")))
	}
	return errors.Join(errs...)
}

// Reload makes next, built by Build from cfg (which Reloadable accepted)
// with Runtime() as prev, the runtime that serves, and retires the one
// before it: its health checks stop, the targets next does not keep are
// closed, and the connections next no longer has a place for are closed
// (unless cfg's reload.close_removed is false). Listeners whose address
// changed are rebound first; one that cannot be bound fails the reload
// (a conftypes.FieldError naming it) and nothing changes. It returns how
// many connections are to be closed. Before Serve has started or after it
// has returned, next is closed and nothing else happens. Reloads are not
// concurrent: the caller orders them (and Build) one after the other.
func (s *Server) Reload(cfg Config, next *Runtime) (int, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	prev := s.runtime.Load()
	if !s.serving || s.stopped {
		next.closeExcept(prev)
		return 0, errors.New("reload: the server is not serving")
	}
	opened, changed, err := s.bindChanged(cfg.Listen)
	if err != nil {
		next.closeExcept(prev)
		return 0, err
	}
	s.settings.Store(settingsFrom(cfg)) // for connections from now on
	s.closeRemoved.Store(cfg.Reload.closeRemoved())
	s.proxyProtocol.Store(cfg.Listen.ProxyProtocol)
	if rates := newHandshakeRates(&cfg.Limits); !rates.sameAs(s.handshakeRates.Load()) {
		s.handshakeRates.Store(rates) // else what the table remembers is kept
	}
	s.attachTraffic(next)
	s.runtime.Store(next)
	s.swapListeners(cfg.Listen, opened, changed)
	next.startHealthChecks()
	prev.stopHealthChecks()
	if err := prev.closeExcept(next); err != nil {
		s.log.Warn("reload: closing what the old routes held", "err", err)
	}
	if !s.closeRemoved.Load() {
		return 0, nil
	}
	orphans := s.orphansOf(next)
	if len(orphans) > 0 {
		spread := s.cfg.Shutdown.CloseSpread.D()
		s.log.Info("reload: closing connections whose route or backend was removed", "connections", len(orphans), "close_spread", spread)
		s.spreading.Go(func() { closeSpread(s.spreadCtx, orphans, spread) })
	}
	return len(orphans), nil
}

// orphaned reports whether a connection just registered on rt, to
// backend b, has no place in the runtime serving now: a reload swapped
// runtimes between the connection's route match and its registration
// with the tracker, after which that reload's scan (orphansOf) could not
// see it. The caller then closes it as the scan would have.
func (s *Server) orphaned(rt *route, b *upstream.Backend) bool {
	cur := s.runtime.Load()
	return cur != rt.runtime && s.closeRemoved.Load() && !cur.keeps(rt, b)
}

// orphansOf lists the live connections rt has no place for.
func (s *Server) orphansOf(rt *Runtime) []drainable {
	var out []drainable
	for _, c := range s.tracker.snapshot() {
		if r, b := c.servedBy(); !rt.keeps(r, b) {
			out = append(out, c)
		}
	}
	return out
}

// closeSpread closes conns with 1012 one after the other, in random
// order, evenly over spread, until ctx is done (shutdown closes the rest
// with 1001).
func closeSpread(ctx context.Context, conns []drainable, spread time.Duration) {
	rand.Shuffle(len(conns), func(i, j int) { conns[i], conns[j] = conns[j], conns[i] })
	step := spread / time.Duration(len(conns))
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for i, c := range conns {
		t.Reset(time.Until(start.Add(time.Duration(i) * step)))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.goAway(&routeGoneFarewell)
	}
}
