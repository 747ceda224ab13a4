package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
)

// Passive health: a backend whose dial fails is skipped for a backoff that
// doubles with each consecutive failure, from passiveBackoffMin up to
// passiveBackoffMax. A success (or a passed active check) resets it. Only
// pools of two or more do this (see Pool.passive).
const (
	passiveBackoffMin = time.Second
	passiveBackoffMax = 30 * time.Second
)

// Backend is one server a pool can send connections to.
type Backend struct {
	url   *URLTemplate
	index int    // position in its pool
	id    uint64 // stable hash of the URL template, for hash balancing
	// dialer is gorilla's, for active WebSocket checks; wsedge's own
	// handshake (handshake.go) uses its dial functions, handshake timeout
	// and read buffer size.
	dialer    websocket.Dialer
	transport *http.Transport
	log       *slog.Logger
	// dialSlots holds a token per dial in progress; nil without
	// Env.MaxDials. A handshake waits up to dialWait for one.
	dialSlots chan struct{}
	dialWait  time.Duration
	*health
}

// health is what a backend knows about its server: connections open,
// failures, checks. A pool rebuilt by a reload hands it on to the backend
// with the same URL, so that least_conn and the health state do not
// restart from zero (issue 9).
type health struct {
	// active counts the connections (and plain requests) open to this
	// backend right now; least_conn reads it without a lock.
	active atomic.Int64
	// downUntil (Unix nanoseconds) is when a passively failed backend may
	// be tried again; failures counts consecutive failed dials.
	downUntil atomic.Int64
	failures  atomic.Int32
	// failedDials counts every failed dial that took b out of rotation,
	// for the metrics.
	failedDials atomic.Uint64
	// checkFailed is set while the active health check fails.
	checkFailed atomic.Bool
}

// newBackend builds the backend for tpl at index in its pool; h is the
// health of the backend it replaces, or nil for a new one.
func newBackend(tpl *URLTemplate, index int, env Env, tlsConfig *tls.Config, h *health) *Backend {
	if h == nil {
		h = new(health)
	}
	b := &Backend{url: tpl, index: index, id: hashString(tpl.String()), log: env.Log, health: h}
	if env.MaxDials > 0 {
		b.dialSlots, b.dialWait = make(chan struct{}, env.MaxDials), env.DialTimeout
	}
	netDialer := &net.Dialer{Timeout: env.DialTimeout, KeepAlive: env.TCPKeepAlive}
	dial := netDialer.DialContext
	if sock := tpl.Socket(); sock != "" {
		dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return netDialer.DialContext(ctx, "unix", sock)
		}
	}
	b.dialer = env.Dialer
	b.dialer.NetDialContext, b.dialer.NetDialTLSContext = dialFuncs(dial, env.WrapConn, tlsConfig)
	b.transport = &http.Transport{}
	if env.Transport != nil {
		b.transport = env.Transport.Clone()
	}
	b.transport.DialContext = dial
	b.transport.TLSClientConfig = tlsConfig
	return b
}

// String returns the backend's URL template, for logs.
func (b *Backend) String() string { return b.url.String() }

// CloseIdleConnections closes the idle keep-alive connections of the
// backend's plain HTTP transport, for a pool no request will reach again.
func (b *Backend) CloseIdleConnections() { b.transport.CloseIdleConnections() }

// Failures returns the number of failed dials that took b out of
// rotation since it was built.
func (b *Backend) Failures() uint64 { return b.failedDials.Load() }

// Active returns the number of connections open to b.
func (b *Backend) Active() int64 { return b.active.Load() }

// Available reports whether b takes new connections now: its active check
// passes (or there is none) and no passive backoff is running.
func (b *Backend) Available() bool { return b.availableAt(time.Now().UnixNano()) }

func (b *Backend) availableAt(now int64) bool {
	return !b.checkFailed.Load() && now >= b.downUntil.Load()
}

// markFailed takes b out of rotation for a backoff after a failed dial.
func (b *Backend) markFailed(err error) {
	n := b.failures.Add(1)
	b.failedDials.Add(1)
	backoff := passiveBackoffMax
	if n <= 5 { // 1s, 2s, 4s, 8s, 16s, then the maximum
		backoff = min(passiveBackoffMin<<(n-1), passiveBackoffMax)
	}
	b.downUntil.Store(time.Now().Add(backoff).UnixNano())
	b.log.Warn("backend down", "backend", b.String(), "consecutive_failures", n, "retry_in", backoff, "err", err)
}

// markUp clears a passive backoff after a successful dial or check.
func (b *Backend) markUp() {
	if b.failures.Swap(0) != 0 {
		b.downUntil.Store(0)
		b.log.Info("backend up", "backend", b.String())
	}
}

// retryIn says how long until b may be available again.
func (b *Backend) retryIn(now int64, checkInterval time.Duration) time.Duration {
	if b.checkFailed.Load() {
		return checkInterval
	}
	return time.Duration(max(b.downUntil.Load()-now, 0))
}

// dialWebSocket completes a WebSocket handshake with b and returns the
// connection with the bytes the backend sent behind its 101.
func (b *Backend) dialWebSocket(ctx context.Context, req *DialRequest) (*Conn, *http.Response, error) {
	target, err := b.url.Expand(req.Params, req.RawQuery, false)
	if err != nil {
		return nil, nil, err
	}
	url := withoutQuery(target)
	if b.dialSlots != nil {
		if err := b.takeDialSlot(ctx); err != nil {
			return nil, nil, fmt.Errorf("dial backend %s: %w", url, err)
		}
		defer func() { <-b.dialSlots }()
	}
	conn, resp, err := b.handshake(ctx, target, req)
	if err != nil {
		return nil, resp, fmt.Errorf("dial backend %s: %w", url, err)
	}
	conn.Backend, conn.URL = b, url
	return conn, resp, nil
}

// httpURL returns the http(s) URL of a plain request on b.
func (b *Backend) httpURL(params httprouter.Params, rawQuery string) (string, error) {
	return b.url.Expand(params, rawQuery, true)
}

// backendTLSConfig builds the client TLS configuration for wss:// backends.
func backendTLSConfig(c *BackendTLSConfig, log *slog.Logger) (*tls.Config, error) {
	if c == nil {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if c.CA != "" {
		pool, err := loadCAPool(c.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if c.InsecureSkipVerify {
		log.Warn("backend certificates are not verified (tls.insecure_skip_verify)")
	}
	return cfg, nil
}

// loadCAPool reads a PEM bundle into a pool of its own: backends behind a
// private CA are trusted through that CA only.
func loadCAPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read CA bundle %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// takeDialSlot waits for one of the backend's dial slots, up to the dial
// timeout: a backend that has had its dials in progress for that long is
// overloaded, and the client hears so (ErrDialsBusy, a 503) rather than
// waiting out its whole handshake.
func (b *Backend) takeDialSlot(ctx context.Context) error {
	select {
	case b.dialSlots <- struct{}{}:
		return nil
	default:
	}
	wait := time.NewTimer(b.dialWait)
	defer wait.Stop()
	select {
	case b.dialSlots <- struct{}{}:
		return nil
	case <-wait.C:
		return ErrDialsBusy
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrDialsBusy, ctx.Err())
	}
}
