package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsedge/wsedge/internal/reactor"
	"github.com/wsedge/wsedge/internal/xconnect"
)

// Buffers. Proxied connections are relayed on event loops: each loop
// reads into one buffer of its own, and an idle connection holds none.
// Built-in handlers use gorilla: a small read buffer per connection, and
// write buffers from a pool, held only while a message is written.
const (
	builtinReadBufferSize  = 512
	builtinWriteBufferSize = 32 << 10
	backendReadBufferSize  = 512 // the reader of a backend's handshake answer
)

// idleTimeout closes plain HTTP keep-alive connections left idle.
const idleTimeout = 2 * time.Minute

// Deps are what a Server needs from the rest of the process.
type Deps struct {
	// Log receives the proxy's log lines. Required.
	Log *slog.Logger
	// TLS serves the https listener; required when listen.https is set.
	TLS *tls.Config
	// Challenges, if set, answers ACME HTTP-01 challenges on the plain
	// listener, and turns listen.redirect_to_https on unless configured.
	Challenges ChallengeResponder
	// Metrics makes the server count what /metrics reports (Collector).
	// Off: nothing is counted.
	Metrics bool
	// HSTS, if set, is the Strict-Transport-Security value sent with
	// every response on the https listener (tls.hsts, RFC 6797).
	HSTS string
}

// ChallengeResponder answers ACME HTTP-01 challenges and passes every
// other request to fallback. tlsconf.Manager implements it.
type ChallengeResponder interface {
	HTTPHandler(fallback http.Handler) http.Handler
}

// Server is the proxy: it accepts connections on the configured listeners
// and serves each request through the current runtime's routes.
type Server struct {
	cfg  Config
	log  *slog.Logger
	deps Deps

	// redirect: whether the plain listener redirects to https (but for
	// routes marked plain), and where to.
	redirect atomic.Pointer[redirect]

	runtime atomic.Pointer[Runtime]
	// reloadMu orders reloads with the start and end of serving: a
	// runtime's health checks run while it serves, and not after.
	reloadMu sync.Mutex
	serving  bool
	stopped  bool
	// endpoints are the listeners serving, by role; listening runs
	// their goroutines (and those of listeners a reload retired);
	// listenErr reports a listener that failed.
	endpoints [2]*endpoint
	listening sync.WaitGroup
	listenErr chan error
	// spreading runs the spread closes reloads start (closeSpread);
	// spreadCtx ends them at shutdown.
	spreading     sync.WaitGroup
	spreadCtx     context.Context
	stopSpreading context.CancelFunc
	tracker       *tracker
	metrics       *metrics // nil without Deps.Metrics
	refusalLog    logLimiter
	// pauseLog limits the debug lines about clients paused for their
	// message rate: a flood of throttled clients must not flood the log.
	pauseLog logLimiter
	// relay runs proxied connections; maskKeys are its loops' masking
	// key sources.
	relay    *reactor.Group
	maskKeys map[*reactor.Loop]*maskKeys

	// builtinUpgrader upgrades the clients of built-in handlers; those of
	// backend routes are upgraded by upgradeClient.
	builtinUpgrader websocket.Upgrader
	reverse         *httputil.ReverseProxy

	// settings are what new connections run with (a reload replaces
	// them); each connection keeps the ones it opened with.
	settings atomic.Pointer[connSettings]
	// closeRemoved is reload.close_removed of the last configuration.
	closeRemoved atomic.Bool
	// proxyProtocol is listen.proxy_protocol of the last configuration.
	proxyProtocol atomic.Bool
	// handshakeRates limits each client's handshakes a second; nil:
	// unbounded. A reload replaces it only if the rate changed.
	handshakeRates atomic.Pointer[handshakeRates]
}

// Listeners are the sockets a Server accepts on; either may be nil.
type Listeners struct {
	HTTP  net.Listener
	HTTPS net.Listener
}

// Close closes the listeners, for a server that will not serve them.
func (ls Listeners) Close() {
	for _, ln := range []net.Listener{ls.HTTP, ls.HTTPS} {
		if ln != nil {
			ln.Close()
		}
	}
}

// New builds a server that serves rt, built from the same validated
// Config by Build, and starts its relay's event loops. The server owns rt
// from then on: it runs its health checks while serving and closes it.
func New(cfg Config, rt *Runtime, deps Deps) (*Server, error) {
	if cfg.Listen.HTTPS != "" && deps.TLS == nil {
		return nil, errors.New("proxy: listen.https is set but no TLS configuration was given")
	}
	log := deps.Log
	s := &Server{
		cfg:     cfg,
		log:     log,
		deps:    deps,
		tracker: newTracker(),
	}
	s.settings.Store(settingsFrom(cfg))
	s.closeRemoved.Store(cfg.Reload.closeRemoved())
	s.proxyProtocol.Store(cfg.Listen.ProxyProtocol)
	s.handshakeRates.Store(newHandshakeRates(&cfg.Limits))
	s.redirect.Store(&redirect{})
	// Built-in handlers read through gorilla's buffer (over the
	// activityConn that keepalive watches) and stream their writes
	// through pooled buffers. Their Origin was judged by the route's
	// policy (same-host unless configured) before they were opened.
	s.builtinUpgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.Limits.HandshakeTimeout.D(),
		CheckOrigin:      func(*http.Request) bool { return true },
		ReadBufferSize:   builtinReadBufferSize,
		WriteBufferSize:  builtinWriteBufferSize,
		WriteBufferPool:  &sync.Pool{},
	}
	if cfg.Listen.HTTPS != "" && cfg.Listen.http2() && !xconnect.Enabled() {
		log.Warn("HTTP/2 without WebSockets over it: GODEBUG lacks http2xconnect=1 (see README, HTTP/2); browsers open theirs over HTTP/1.1")
	}
	s.reverse = s.newReverseProxy()
	s.spreadCtx, s.stopSpreading = context.WithCancel(context.Background())
	if err := s.startRelay(cfg.Relay); err != nil {
		return nil, err
	}
	if deps.Metrics {
		s.metrics = newMetrics(s, len(s.relay.Loops()))
	}
	s.attachTraffic(rt)
	s.runtime.Store(rt)
	return s, nil
}

// startRelay starts the event loops proxied connections are relayed on.
// Serve stops them.
func (s *Server) startRelay(cfg RelayConfig) error {
	g, err := reactor.New(reactor.Config{Headroom: carryCap, Portable: cfg.portable})
	if err != nil {
		return fmt.Errorf("proxy: start relay: %w", err)
	}
	s.relay = g
	s.maskKeys = map[*reactor.Loop]*maskKeys{}
	for _, l := range g.Loops() {
		s.maskKeys[l] = newMaskKeys()
	}
	return nil
}

// tcpKeepAlive is the TCP keepalive period of wsedge's connections, for
// net.ListenConfig and net.Dialer. WebSocket pings find dead peers on
// every upgraded connection, so TCP's own probes are off while pings run
// (saving four setsockopt calls per socket); with ping_interval: 0 they
// are what notices a peer that vanished without a FIN, and Go's default
// (15 s) applies.
func tcpKeepAlive(pingInterval time.Duration) time.Duration {
	if pingInterval > 0 {
		return -1
	}
	return 0
}

// Run listens and serves until ctx is cancelled, then drains.
func (s *Server) Run(ctx context.Context) error {
	ls, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(ctx, ls)
}

// Serve accepts on ls until ctx is cancelled or a listener fails. Then it
// stops accepting, sends 1001 Going Away to every client and backend, and
// waits up to drain_timeout for them to close before dropping the rest. It
// returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ls Listeners) error {
	var background sync.WaitGroup
	reclaimCtx, stopReclaim := context.WithCancel(context.Background())
	background.Go(func() { s.reclaimAfterBursts(reclaimCtx) })
	s.reloadMu.Lock()
	s.serving = true
	s.listenErr = make(chan error, 1)
	for role, ln := range [2]net.Listener{ls.HTTP, ls.HTTPS} {
		if ln != nil {
			s.serveOn(role, ln)
		}
	}
	s.updateRedirect(s.cfg.Listen)
	s.runtime.Load().startHealthChecks()
	s.reloadMu.Unlock()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-s.listenErr:
	}
	s.reloadMu.Lock()
	s.stopped = true // no reload from here on
	var servers []*http.Server
	for _, e := range s.endpoints {
		if e != nil {
			servers = append(servers, e.hs)
		}
	}
	s.reloadMu.Unlock()
	s.shutdown(servers)
	s.listening.Wait()
	stopReclaim()
	background.Wait()
	s.relay.Close()
	s.runtime.Load().Close()
	return serveErr
}

func (s *Server) shutdown(servers []*http.Server) {
	drain := s.cfg.Shutdown.DrainTimeout.D()
	s.log.Info("shutting down: draining connections", "connections", s.tracker.count(), "drain_timeout", drain)
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	var wg sync.WaitGroup
	for _, hs := range servers {
		wg.Go(func() {
			// Stops accepting and waits for in-flight plain requests;
			// hijacked (upgraded) connections are the tracker's.
			if hs.Shutdown(ctx) != nil {
				hs.Close()
			}
		})
	}
	s.stopSpreading() // the drain closes every connection
	s.spreading.Wait()
	dropped := s.tracker.drain(ctx)
	wg.Wait()
	s.log.Info("shutdown complete", "dropped", dropped)
}

func (s *Server) newHTTPServer(withTLS bool) *http.Server {
	var handler http.Handler = s
	if !withTLS && s.deps.Challenges != nil {
		handler = s.deps.Challenges.HTTPHandler(s)
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: s.settings.Load().handshakeTimeout, // also bounds the TLS handshake
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    int(s.cfg.Limits.MaxHeaderBytes), // a reload needs a restart to change it
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	if withTLS {
		hs.TLSConfig = s.deps.TLS
		if s.cfg.Listen.http2() {
			// HTTP/2 over TLS only (no h2c), as browsers speak it.
			hs.Protocols.SetHTTP2(true)
			hs.TLSConfig = offeringH2(s.deps.TLS)
		}
	}
	return hs
}

// offeringH2 is c with h2 offered first in ALPN (RFC 7301), as
// http.Server.ServeTLS would add it.
func offeringH2(c *tls.Config) *tls.Config {
	if slices.Contains(c.NextProtos, "h2") {
		return c
	}
	c = c.Clone()
	c.NextProtos = append([]string{"h2"}, c.NextProtos...)
	return c
}

// portSuffix is ":port" for redirects to addr, or "" for the default 443.
func portSuffix(addr net.Addr) string {
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil || port == "443" {
		return ""
	}
	return ":" + port
}

// ActiveConnections returns the number of upgraded connections open now.
func (s *Server) ActiveConnections() int { return s.tracker.count() }

// Collector returns the server's metrics for a Prometheus registry, or
// nil without Deps.Metrics.
func (s *Server) Collector() prometheus.Collector {
	if s.metrics == nil {
		return nil
	}
	return s.metrics
}

// attachTraffic gives each of rt's routes the traffic counters of its
// label, before rt serves.
func (s *Server) attachTraffic(rt *Runtime) {
	for _, r := range rt.routes {
		r.traffic = s.metrics.trafficFor(r.Label())
	}
}

// Ready returns nil while the server takes new connections, or why it
// does not: it has not started serving, or it is draining.
func (s *Server) Ready() error {
	s.reloadMu.Lock()
	serving, stopped := s.serving, s.stopped
	s.reloadMu.Unlock()
	switch {
	case !serving:
		return errors.New("starting")
	case stopped || !s.tracker.accepting():
		return errors.New("draining")
	}
	return nil
}
