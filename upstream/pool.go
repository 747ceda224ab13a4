package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// NoBackendError: every backend of the pool is down (failed dials within
// their backoff, or failing active checks). The proxy answers 503 with
// Retry-After.
type NoBackendError struct {
	// RetryAfter is when the first backend may be back.
	RetryAfter time.Duration
}

func (e *NoBackendError) Error() string {
	return "no backend available (retry in " + e.RetryAfter.String() + ")"
}

// RetryAfterSeconds is RetryAfter for a Retry-After header: whole seconds,
// at least 1.
func (e *NoBackendError) RetryAfterSeconds() string {
	return strconv.Itoa(max(1, int(math.Ceil(e.RetryAfter.Seconds()))))
}

// Pool is the set of backends a route points at.
type Pool struct {
	backends []*Backend
	balancer balancer
	hashKey  hashKey
	health   *HealthConfig
	log      *slog.Logger
	// passive: failed dials take a backend out of rotation. Not for a
	// pool of one, as nginx does: with nowhere else to go, skipping the
	// only backend would only turn a quick 502 into a 503 that outlasts
	// the backend's restart.
	passive bool
}

// NewPool builds the pool a KindBackends Config describes. It does the
// configuration's I/O (a CA bundle is read); a failure is a
// conftypes.FieldError naming the field, relative to the route. Its
// health checks run while its owner runs RunHealthChecks. prev are the
// backends of the pool it replaces (nil for none): a backend with the
// same URL keeps their connection count and health.
func NewPool(cfg Config, env Env, prev []*Backend) (*Pool, error) {
	tlsConfig, err := backendTLSConfig(cfg.TLS, env.Log)
	if err != nil {
		return nil, conftypes.Field("tls.ca", err)
	}
	p := &Pool{balancer: newBalancer(cfg.Balance), health: cfg.Health, log: env.Log, passive: len(cfg.templates()) > 1}
	if cfg.Balance == BalanceHash {
		if p.hashKey, err = parseHashKey(cfg.HashKey); err != nil {
			return nil, err
		}
	}
	for i, t := range cfg.templates() {
		tpl, err := ParseURLTemplate(t.url)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.field, err)
		}
		var h *health
		for _, old := range prev {
			if old.String() == tpl.String() {
				h = old.health
			}
		}
		p.backends = append(p.backends, newBackend(tpl, i, env, tlsConfig, h))
	}
	return p, nil
}

// Backends lists the pool's backends in configuration order.
func (p *Pool) Backends() []*Backend { return p.backends }

// DialRequest is what a pool needs to know about a client's request.
type DialRequest struct {
	// Params are the route parameters the request matched.
	Params httprouter.Params
	// RawQuery is the client's query string, appended to the backend URL.
	RawQuery string
	// Header is sent to the backend as is: the caller has already removed
	// hop-by-hop and Sec-WebSocket-* headers and set X-Forwarded-*. A Host
	// entry sets the Host the backend sees.
	Header http.Header
	// Subprotocols are the client's offered subprotocols, in its order.
	Subprotocols []string
	// Extensions is the Sec-WebSocket-Extensions offer sent to the
	// backend as it is (the client's, RFC 6455 section 9.1); "" offers
	// none. The backend's answer is the response's
	// Sec-WebSocket-Extensions header: checking it against the offer is
	// the caller's job, as is the chosen subprotocol.
	Extensions string
	// ClientIP is the client's address, for hash_key: client_ip.
	ClientIP string
}

// Conn is an open WebSocket connection to one backend of a pool, right
// after the backend's 101.
type Conn struct {
	// NetConn is the connection: TCP or a Unix socket (as returned by
	// Env.WrapConn), or TLS over it. The caller reads and writes frames
	// on it and closes it.
	NetConn net.Conn
	// Early holds what the backend sent right behind its 101 and was read
	// with the response: the start of its frame stream. Usually nil.
	Early []byte
	// Backend is the backend the connection went to.
	Backend *Backend
	// URL is the backend URL dialled, without its query string (which may
	// carry a client's token), for logs.
	URL      string
	released atomic.Bool
}

// Release tells the pool the connection is over; call it once the
// connection is closed. Calling it again does nothing.
func (c *Conn) Release() {
	if c.released.CompareAndSwap(false, true) {
		c.Backend.active.Add(-1)
	}
}

// DialWebSocket completes a WebSocket handshake with one of the pool's
// backends, chosen by the balance policy. A backend that cannot be reached
// is marked down (in a pool of two or more) and the next eligible one is
// tried, until ctx (bounded by handshake_timeout) runs out; each connect
// is bounded by dial_timeout.
//
// When a backend answers with anything but 101, the returned response
// carries its status, headers and (the first KiB of) its body, so the
// caller can relay it: an answer is not a failure, and is not retried.
// With every backend down the error is a *NoBackendError.
func (p *Pool) DialWebSocket(ctx context.Context, req DialRequest) (*Conn, *http.Response, error) {
	var tried []bool
	var lastErr error
	for range p.backends {
		b := p.acquire(&req, tried)
		if b == nil {
			break
		}
		conn, resp, err := b.dialWebSocket(ctx, &req)
		if err == nil {
			b.markUp()
			return conn, resp, nil
		}
		b.active.Add(-1)
		switch {
		case errors.Is(err, ErrBadParam):
			return nil, nil, err
		case resp != nil:
			b.markUp() // it answered: alive
			return nil, resp, err
		case ctx.Err() != nil:
			// Out of time, or the client left: not the backend's fault.
			return nil, nil, err
		}
		if p.passive {
			b.markFailed(err)
		}
		if tried == nil {
			tried = make([]bool, len(p.backends))
		}
		tried[b.index] = true
		lastErr = err
	}
	if lastErr != nil {
		return nil, nil, lastErr
	}
	return nil, nil, p.unavailable()
}

// acquire picks an eligible backend and counts the request on it.
func (p *Pool) acquire(req *DialRequest, tried []bool) *Backend {
	key, keyed := p.hashKey.of(req)
	i := p.balancer.pick(candidates{backends: p.backends, now: time.Now().UnixNano(), tried: tried}, key, keyed)
	if i < 0 {
		return nil
	}
	b := p.backends[i]
	b.active.Add(1)
	return b
}

// unavailable says when the first backend may be back.
func (p *Pool) unavailable() *NoBackendError {
	interval := DefaultHealthInterval
	if p.health != nil {
		interval = p.health.interval()
	}
	now := time.Now().UnixNano()
	soonest := time.Duration(math.MaxInt64)
	for _, b := range p.backends {
		soonest = min(soonest, b.retryIn(now, interval))
	}
	return &NoBackendError{RetryAfter: soonest}
}

// HTTPTarget is the backend chosen for one plain request.
type HTTPTarget struct {
	// URL is the http(s) URL the request goes to.
	URL string
	// Transport reaches the backend (its TLS settings, its Unix socket).
	Transport http.RoundTripper
	backend   *Backend
	passive   bool
	done      atomic.Bool
}

// PickHTTP chooses a backend for a plain request with the pool's balance
// policy; the caller calls Done when the request is over.
func (p *Pool) PickHTTP(req DialRequest) (*HTTPTarget, error) {
	b := p.acquire(&req, nil)
	if b == nil {
		return nil, p.unavailable()
	}
	u, err := b.httpURL(req.Params, req.RawQuery)
	if err != nil {
		b.active.Add(-1)
		return nil, err
	}
	return &HTTPTarget{URL: u, Transport: b.transport, backend: b, passive: p.passive}, nil
}

// Backend returns the backend's URL template, for logs.
func (t *HTTPTarget) Backend() string { return t.backend.String() }

// Done ends the request. A failure to reach the backend (err from the
// transport, not the client going away) marks it down like a failed dial.
func (t *HTTPTarget) Done(err error, clientGone bool) {
	if !t.done.CompareAndSwap(false, true) {
		return
	}
	t.backend.active.Add(-1)
	if err != nil && !clientGone && t.passive {
		t.backend.markFailed(err)
	}
}

func withoutQuery(u string) string {
	s, _, _ := strings.Cut(u, "?")
	return s
}
