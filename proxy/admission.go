package proxy

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// Admission of a WebSocket handshake (issue 10): after the handshake's
// own checks, the client's handshake rate, then its place under the
// connection limits. A refused handshake has dialled nothing and opened
// nothing.

// limitError is a handshake refused by one of the limits: its name (for
// logs and metrics), the status the client gets and when to try again.
type limitError struct {
	limit  string
	status int
	retry  time.Duration
}

func (e *limitError) Error() string { return e.limit + " reached" }

// retryAfterSeconds is retry for a Retry-After header: whole seconds,
// at least 1 (RFC 9110 section 10.2.3).
func (e *limitError) retryAfterSeconds() string {
	return strconv.Itoa(max(1, int(math.Ceil(e.retry.Seconds()))))
}

// connRetry is the Retry-After of a connection limit: nothing says when a
// place frees up, so a few seconds, as for a drain.
const connRetry = 5 * time.Second

// Names of the limits, as logs and the refusal metric give them.
const (
	limitConnections      = "max_connections"
	limitRouteConnections = "route max_connections"
	limitClient           = "max_connections_per_ip"
	limitRouteClient      = "route max_connections_per_ip"
	limitHandshakeRate    = "handshake_rate"
	limitBackendDials     = "max_backend_dials"
)

// connLimits are the bounds a handshake is admitted under; zero is none.
type connLimits struct {
	total, route, client, routeClient int
}

// connLimitsFor are the bounds on rt's connections under cs.
func connLimitsFor(cs *connSettings, rt *route) connLimits {
	return connLimits{
		total:       cs.maxConnections,
		route:       rt.Limits.MaxConnections,
		client:      cs.maxConnectionsPerIP,
		routeClient: rt.Limits.MaxConnectionsPerIP,
	}
}

// clientKey is what the per-client limits count by: the address, or for
// IPv6 its /64, since one host commonly holds a whole /64 (RFC 4291
// section 2.5.4) and would otherwise get 2^64 budgets.
func clientKey(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{} // a Unix socket peer: one key for all
	}
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// admitWebSocket admits r's handshake on rt, or says why not: a
// malformed handshake (400, 405, 426), a client over its handshake rate
// (429), a full connection limit or a draining server (503), the route's
// auth server's refusal (or 503, 504 when it fails). The cheap checks
// come first, so a flood never reaches the auth server. The ticket holds
// the connection's place until it is released: by the tracker once a
// connection carrying it is added, else by the caller. The request
// returned is the one to serve (see authorize).
func (s *Server) admitWebSocket(r *http.Request, rt *route) (*http.Request, *ticket, error) {
	if err := checkClientHandshake(r); err != nil {
		return nil, nil, err
	}
	key := clientKey(clientAddr(r))
	if wait, ok := s.handshakeRates.Load().allow(key, time.Now()); !ok {
		return nil, nil, &limitError{limit: limitHandshakeRate, status: http.StatusTooManyRequests, retry: wait}
	}
	tk, err := s.tracker.reserve(rt.Label(), key, connLimitsFor(s.settings.Load(), rt))
	if err != nil {
		return nil, nil, fmt.Errorf("admit handshake: %w", err)
	}
	admitted, err := s.authorize(r, rt)
	if err != nil {
		s.tracker.release(tk)
		return nil, nil, err
	}
	return admitted, tk, nil
}
