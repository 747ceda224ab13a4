package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/wstest"
	"github.com/wsedge/wsedge/routes"
	"github.com/wsedge/wsedge/tlsconf"
	"github.com/wsedge/wsedge/upstream"
)

// waitLimit bounds every wait in these tests; a wait that hits it fails.
const waitLimit = 10 * time.Second

// testProxy is a running Server on loopback.
type testProxy struct {
	srv      *Server
	plainURL string // ws://127.0.0.1:port
	tlsURL   string // wss://127.0.0.1:port, when started with TLS
	roots    *x509.CertPool
	log      *logRecorder
	stop     func() error // shuts down and returns Serve's error
}

// testConfig returns a config with loopback listeners, fast timeouts and
// the given routes.
func testConfig(rs ...routes.Route) Config {
	cfg := DefaultConfig()
	cfg.Listen = ListenConfig{HTTP: "127.0.0.1:0"}
	cfg.Limits.HandshakeTimeout = conftypes.Duration(5 * time.Second)
	cfg.Shutdown.DrainTimeout = conftypes.Duration(5 * time.Second)
	cfg.Routes = rs
	return cfg
}

func backendRoute(path, backend string) routes.Route {
	return routes.Route{Path: path, Config: upstream.Config{Backend: backend}}
}

func handlerRoute(path, handler string) routes.Route {
	return routes.Route{Path: path, Config: upstream.Config{Handler: handler}}
}

// startProxy validates cfg and serves it on fresh loopback listeners (plus
// a TLS one with a generated certificate when withTLS), until the test ends.
// Each of deps, if any, adjusts the Deps the server is built with.
func startProxy(t testing.TB, cfg Config, withTLS bool, deps ...func(*Deps)) *testProxy {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config does not validate: %v", err)
	}
	tp := &testProxy{log: newLogRecorder(t)}
	var tlsConfig *tls.Config
	if withTLS {
		// The production TLS configuration, with a certificate made now.
		m, err := tlsconf.New(tlsconf.Config{SelfSigned: []string{"localhost", "127.0.0.1"}}, slog.New(tp.log))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		tp.roots = x509.NewCertPool()
		tp.roots.AddCert(cert.Leaf)
		tlsConfig = m.TLSConfig()
		cfg.Listen.HTTPS = "127.0.0.1:0"
	}
	rt, err := Build(cfg, BuildDeps{Log: slog.New(tp.log)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := Deps{Log: slog.New(tp.log), TLS: tlsConfig}
	for _, adjust := range deps {
		adjust(&d)
	}
	srv, err := New(cfg, rt, d)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tp.srv = srv
	ls, err := srv.Listen()
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	tp.plainURL = "ws://" + ls.HTTP.Addr().String()
	if ls.HTTPS != nil {
		tp.tlsURL = "wss://" + ls.HTTPS.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ls) }()
	var once sync.Once
	var serveErr error
	tp.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-served:
			case <-time.After(waitLimit):
				serveErr = errors.New("Serve did not return after shutdown")
			}
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := tp.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return tp
}

// waitConnections polls until the proxy tracks n upgraded connections: a
// client's dial returns on the 101, a moment before the proxy registers it.
func (tp *testProxy) waitConnections(t *testing.T, n int) {
	t.Helper()
	wstest.Eventually(t, waitLimit, func() bool { return tp.srv.ActiveConnections() == n })
}

// relayBacklog reports, over every live proxied session, the bytes that
// wait in the relay for a socket, and whether any leg is held back (not
// read because the other leg cannot take more). It asks each session's
// loop.
func (tp *testProxy) relayBacklog(t *testing.T) (pending int, heldBack bool) {
	t.Helper()
	tp.srv.tracker.mu.Lock()
	var sessions []*session
	for c := range tp.srv.tracker.live {
		if ss, ok := c.(*session); ok {
			sessions = append(sessions, ss)
		}
	}
	tp.srv.tracker.mu.Unlock()
	type state struct {
		pending int
		held    bool
	}
	states := make(chan state, len(sessions))
	for _, ss := range sessions {
		ss.loop.Post(func() {
			var st state
			if !ss.ended && ss.client.conn != nil {
				for _, l := range ss.legs() {
					st.pending += l.conn.Buffered()
					st.held = st.held || ss.heldBack(l)
				}
			}
			states <- st
		})
	}
	for range sessions {
		select {
		case st := <-states:
			pending += st.pending
			heldBack = heldBack || st.held
		case <-time.After(waitLimit):
			t.Fatal("a session's loop did not answer")
		}
	}
	return pending, heldBack
}

// httpURL turns the proxy's ws:// base into http://.
func (tp *testProxy) httpURL() string { return "http" + strings.TrimPrefix(tp.plainURL, "ws") }

// dial opens a WebSocket through the proxy's plain listener.
func (tp *testProxy) dial(t *testing.T, path string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitLimit}
	c, resp, err := d.Dial(tp.plainURL+path, header)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

func (tp *testProxy) mustDial(t *testing.T, path string) *websocket.Conn {
	t.Helper()
	c, resp, err := tp.dial(t, path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (status %d)", path, err, statusOf(resp))
	}
	return c
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// wsBackend is a real gorilla WebSocket server on loopback.
type wsBackend struct {
	*httptest.Server
	upgrader websocket.Upgrader
	// requests receives every handshake request the backend accepted.
	requests chan *http.Request
}

// startBackend serves handle for every upgraded connection. handle runs in
// the backend's request goroutine: it must use t.Errorf, never t.Fatal.
func startBackend(t *testing.T, handle func(*websocket.Conn, *http.Request)) *wsBackend {
	t.Helper()
	return startBackendWith(t, websocket.Upgrader{}, handle)
}

// startBackendWith is startBackend with a configured upgrader.
func startBackendWith(t *testing.T, upgrader websocket.Upgrader, handle func(*websocket.Conn, *http.Request)) *wsBackend {
	t.Helper()
	return startMixedBackend(t, upgrader, handle, nil)
}

// startMixedBackend also serves plain requests with page, as an app that
// serves its page and its socket on one port does.
func startMixedBackend(t *testing.T, upgrader websocket.Upgrader, handle func(*websocket.Conn, *http.Request), page http.Handler) *wsBackend {
	t.Helper()
	b := &wsBackend{upgrader: upgrader, requests: make(chan *http.Request, 1024)}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if page != nil && !websocket.IsWebSocketUpgrade(r) {
			page.ServeHTTP(w, r)
			return
		}
		c, err := b.upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		b.requests <- r
		handle(c, r)
	}))
	t.Cleanup(b.Close)
	return b
}

// expectRequests waits for the backend's next n handshakes, then checks
// that no other has come: what wsedge refused never reached it.
func (b *wsBackend) expectRequests(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-b.requests:
		case <-time.After(waitLimit):
			t.Fatal("an admitted handshake did not reach the backend")
		}
	}
	select {
	case r := <-b.requests:
		t.Errorf("a refused handshake reached the backend: %s %s from %s (Origin %q)", r.Method, r.URL, r.Header.Get("X-Real-Ip"), r.Header.Get("Origin"))
	default:
	}
}

// wsURL returns the backend's ws:// address plus path.
func (b *wsBackend) wsURL(path string) string {
	return "ws://" + b.Listener.Addr().String() + path
}

// echoConn sends every message back until the connection ends.
func echoConn(c *websocket.Conn, _ *http.Request) { wstest.Echo(c) }

// readClose reads until the connection ends and returns the close error.
func readClose(t *testing.T, c *websocket.Conn) *websocket.CloseError {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		t.Fatalf("connection ended without a close frame: %v", err)
		return nil
	}
}

// logRecorder is a slog.Handler that keeps every message, so tests can wait
// for a log line instead of sleeping.
type logRecorder struct {
	t       testing.TB
	mu      sync.Mutex
	records []slog.Record
	changed chan struct{}
}

func newLogRecorder(t testing.TB) *logRecorder {
	return &logRecorder{t: t, changed: make(chan struct{})}
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	close(l.changed)
	l.changed = make(chan struct{})
	return nil
}

// waitFor returns the first record with msg whose attrs satisfy match.
func (l *logRecorder) waitFor(t *testing.T, msg string, match func(map[string]string) bool) map[string]string {
	t.Helper()
	deadline := time.After(waitLimit)
	seen := 0
	for {
		l.mu.Lock()
		recs, changed := l.records[seen:], l.changed
		seen = len(l.records)
		l.mu.Unlock()
		for _, r := range recs {
			if r.Message != msg {
				continue
			}
			attrs := map[string]string{}
			r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
			if match == nil || match(attrs) {
				return attrs
			}
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no log line %q after %v", msg, waitLimit)
		}
	}
}

// dialFrom opens a WebSocket to url from the loopback address src (any
// 127.0.0.0/8 address is this machine's), writing prefix first when set
// (a PROXY protocol header), over TLS for a wss:// url.
func (tp *testProxy) dialFrom(t *testing.T, src, url string, header http.Header, prefix []byte) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{
		HandshakeTimeout: waitLimit,
		TLSClientConfig:  &tls.Config{RootCAs: tp.roots, ServerName: "127.0.0.1"},
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			c, err := nd.DialContext(ctx, network, addr)
			if err == nil && prefix != nil {
				_, err = c.Write(prefix)
			}
			return c, err
		},
	}
	c, resp, err := d.Dial(url, header)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// leftovers are the process's descriptors and goroutines at a moment.
type leftovers struct{ fds, goroutines int }

// takeLeftovers records them, before refused attempts.
func takeLeftovers(t *testing.T) leftovers {
	t.Helper()
	return leftovers{wstest.OpenFDs(t), runtime.NumGoroutine()}
}

// expectNone waits until the refused attempts made since l have left
// nothing behind: no more descriptors or goroutines than there were.
func (l leftovers) expectNone(t *testing.T) {
	t.Helper()
	var fds, gs int
	wstest.EventuallyOr(t, waitLimit, func() bool {
		fds, gs = wstest.OpenFDs(t), runtime.NumGoroutine()
		return fds <= l.fds && gs <= l.goroutines
	}, func() string {
		return fmt.Sprintf("refused attempts left things behind: %d descriptors (were %d), %d goroutines (were %d)", fds, l.fds, gs, l.goroutines)
	})
}
