package proxy

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/wstest"
	"github.com/wsedge/wsedge/routes"
)

// refusedWith checks a handshake's refusal: its status and Retry-After.
func refusedWith(t *testing.T, what string, resp *http.Response, status int, retryAfter string) {
	t.Helper()
	if statusOf(resp) != status {
		t.Errorf("%s: status %d, want %d", what, statusOf(resp), status)
		return
	}
	if got := resp.Header.Get("Retry-After"); got != retryAfter {
		t.Errorf("%s: Retry-After %q, want %q", what, got, retryAfter)
	}
}

// TestConnectionLimits: each connection limit refuses the handshake over
// it with 503 and Retry-After, before the backend is dialled or a
// built-in opened, logs which limit it was, leaves nothing behind, and
// frees its place when a connection ends.
func TestConnectionLimits(t *testing.T) {
	cases := []struct {
		name      string
		configure func(*Config)
		// held are the connections opened first (source address, path);
		// then refused is refused and admitted still gets in.
		held            [][2]string
		refused         [2]string
		admitted        [2]string
		limit           string
		viaBuiltinRoute bool
	}{
		{
			name:      "max_connections",
			configure: func(c *Config) { c.Limits.MaxConnections = 2 },
			held:      [][2]string{{"127.0.0.2", "/a"}, {"127.0.0.3", "/b"}},
			refused:   [2]string{"127.0.0.4", "/a"},
			limit:     limitConnections,
		},
		{
			name:      "route max_connections",
			configure: func(c *Config) { c.Routes[0].Limits.MaxConnections = 1 },
			held:      [][2]string{{"127.0.0.2", "/a"}},
			refused:   [2]string{"127.0.0.3", "/a"},
			admitted:  [2]string{"127.0.0.3", "/b"},
			limit:     limitRouteConnections,
		},
		{
			name:      "max_connections_per_ip",
			configure: func(c *Config) { c.Limits.MaxConnectionsPerIP = 2 },
			held:      [][2]string{{"127.0.0.2", "/a"}, {"127.0.0.2", "/b"}},
			refused:   [2]string{"127.0.0.2", "/echo"},
			admitted:  [2]string{"127.0.0.3", "/a"},
			limit:     limitClient,
		},
		{
			name:      "route max_connections_per_ip",
			configure: func(c *Config) { c.Routes[2].Limits.MaxConnectionsPerIP = 1 },
			held:      [][2]string{{"127.0.0.2", "/echo"}},
			refused:   [2]string{"127.0.0.2", "/echo"},
			admitted:  [2]string{"127.0.0.3", "/echo"},
			limit:     limitRouteClient,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backend := startBackend(t, echoConn)
			cfg := testConfig(backendRoute("/a", backend.wsURL("/")), backendRoute("/b", backend.wsURL("/")), handlerRoute("/echo", "echo"))
			tc.configure(&cfg)
			tp := startProxy(t, cfg, false, withMetrics)
			var held []*websocket.Conn
			for _, h := range tc.held {
				c, resp, err := tp.dialFrom(t, h[0], tp.plainURL+h[1], nil, nil)
				if err != nil {
					t.Fatalf("%s from %s: %v (status %d)", h[1], h[0], err, statusOf(resp))
				}
				held = append(held, c)
			}
			tp.waitConnections(t, len(held))
			before := takeLeftovers(t)
			for range 20 {
				_, resp, _ := tp.dialFrom(t, tc.refused[0], tp.plainURL+tc.refused[1], nil, nil)
				refusedWith(t, tc.refused[1]+" from "+tc.refused[0], resp, http.StatusServiceUnavailable, "5")
			}
			before.expectNone(t)
			tp.log.waitFor(t, "request refused", func(a map[string]string) bool {
				return a["status"] == "503" && a["limit"] == tc.limit && strings.HasPrefix(a["client"], tc.refused[0]+":")
			})
			if n := counterValue(t, tp.srv.metrics.limitRefusals, tc.refused[1], tc.limit); n != 20 {
				t.Errorf("wsedge_limit_refusals_total{route=%q,limit=%q} = %v, want 20", tc.refused[1], tc.limit, n)
			}
			if tc.admitted[0] != "" {
				if _, resp, err := tp.dialFrom(t, tc.admitted[0], tp.plainURL+tc.admitted[1], nil, nil); err != nil {
					t.Errorf("%s from %s, under its limits: %v (status %d)", tc.admitted[1], tc.admitted[0], err, statusOf(resp))
				}
			}
			// The backend saw only the admitted handshakes.
			if n := len(backend.requests); n > len(held)+1 {
				t.Errorf("the backend got %d handshakes, want at most %d", n, len(held)+1)
			}
			// A place frees up when a connection ends.
			for _, c := range held {
				c.Close()
			}
			tp.waitConnections(t, min(1, len(tc.admitted[0])))
			if _, resp, err := tp.dialFrom(t, tc.refused[0], tp.plainURL+tc.refused[1], nil, nil); err != nil {
				t.Errorf("after the held connections ended: %v (status %d)", err, statusOf(resp))
			}
		})
	}
}

// TestHandshakeRate: a client over its handshake rate gets 429 with the
// Retry-After its budget gives, logged, leaving nothing behind; other
// clients are not affected.
func TestHandshakeRate(t *testing.T) {
	cfg := testConfig(handlerRoute("/echo", "echo"))
	cfg.Limits.HandshakeRate = 0.1 // one every 10 s
	cfg.Limits.HandshakeBurst = 2
	tp := startProxy(t, cfg, false, withMetrics)
	for i := range 2 {
		if _, resp, err := tp.dialFrom(t, "127.0.0.2", tp.plainURL+"/echo", nil, nil); err != nil {
			t.Fatalf("handshake %d of the burst: %v (status %d)", i+1, err, statusOf(resp))
		}
	}
	tp.waitConnections(t, 2)
	before := takeLeftovers(t)
	for range 10 {
		_, resp, _ := tp.dialFrom(t, "127.0.0.2", tp.plainURL+"/echo", nil, nil)
		refusedWith(t, "over the rate", resp, http.StatusTooManyRequests, "10")
	}
	before.expectNone(t)
	tp.log.waitFor(t, "request refused", func(a map[string]string) bool {
		return a["status"] == "429" && a["limit"] == limitHandshakeRate && strings.HasPrefix(a["client"], "127.0.0.2:")
	})
	if n := counterValue(t, tp.srv.metrics.limitRefusals, "/echo", limitHandshakeRate); n != 10 {
		t.Errorf("wsedge_limit_refusals_total{limit=handshake_rate} = %v, want 10", n)
	}
	if _, resp, err := tp.dialFrom(t, "127.0.0.3", tp.plainURL+"/echo", nil, nil); err != nil {
		t.Errorf("another client: %v (status %d)", err, statusOf(resp))
	}
}

// TestHandshakeFlood: while one address floods wsedge with handshakes
// and is refused with 429, every handshake of another address is
// admitted and relayed. Each has a budget of 100 (a rate of 50 a second):
// the other address stays within its budget however slow the machine,
// and the flood, four dialers without pause, spends its own.
func TestHandshakeFlood(t *testing.T) {
	backend := startBackend(t, echoConn)
	cfg := testConfig(backendRoute("/a", backend.wsURL("/")))
	cfg.Limits.HandshakeRate = 50
	cfg.Limits.HandshakeBurst = 100
	tp := startProxy(t, cfg, false)
	// probe opens 100 connections from src, one after the other, each
	// echoing once, and returns how long that took (logged, not judged).
	probe := func(src string) time.Duration {
		start := time.Now()
		for i := range 100 {
			c, resp, err := tp.dialFrom(t, src, tp.plainURL+"/a", nil, nil)
			if err != nil {
				t.Errorf("handshake %d from %s: %v (status %d)", i, src, err, statusOf(resp))
				continue
			}
			if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
				t.Errorf("write: %v", err)
			}
			c.SetReadDeadline(time.Now().Add(waitLimit))
			if _, m, err := c.ReadMessage(); err != nil || string(m) != "hi" {
				t.Errorf("echo %d from %s: %q, %v", i, src, m, err)
			}
			c.Close()
		}
		return time.Since(start)
	}
	alone := probe("127.0.0.3")
	var flood sync.WaitGroup
	stop := make(chan struct{})
	var refused atomic.Int64
	for range 4 {
		flood.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, resp, _ := tp.dialFrom(t, "127.0.0.2", tp.plainURL+"/a", nil, nil)
				if c != nil {
					c.Close()
				}
				if statusOf(resp) == http.StatusTooManyRequests {
					refused.Add(1)
				}
			}
		})
	}
	defer flood.Wait()
	defer close(stop)
	wstest.EventuallyOr(t, waitLimit, func() bool { return refused.Load() > 0 }, func() string {
		return "the flooding address was never refused"
	})
	before := refused.Load()
	during := probe("127.0.0.4")
	t.Logf("another address: 100 handshakes in %v alone, in %v while the flood was refused %d times",
		alone.Round(time.Millisecond), during.Round(time.Millisecond), refused.Load()-before)
}

// TestHandshakeRateTable: the table of clients stays within its size,
// forgetting the least recently seen, and an IPv6 client is one /64.
func TestHandshakeRateTable(t *testing.T) {
	h := newHandshakeRates(&LimitsConfig{HandshakeRate: 1, HandshakeBurst: 1, HandshakeRateTable: 3})
	now := time.Now()
	key := func(s string) netip.Prefix { return clientKey(netip.MustParseAddr(s)) }
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if _, ok := h.allow(key(a), now); !ok {
			t.Errorf("%s refused its first handshake", a)
		}
	}
	if _, ok := h.allow(key("192.0.2.1"), now); ok {
		t.Error("192.0.2.1 admitted a second handshake within its burst of 1")
	}
	// 192.0.2.2 is now the least recent: a fourth client pushes it out.
	if _, ok := h.allow(key("192.0.2.4"), now); !ok {
		t.Error("a fourth client refused")
	}
	if n := h.remembered(); n != 3 {
		t.Errorf("the table holds %d clients, want 3", n)
	}
	if _, ok := h.allow(key("192.0.2.2"), now); !ok {
		t.Error("a forgotten client did not get a fresh budget")
	}
	if _, ok := h.allow(key("192.0.2.1"), now); ok {
		t.Error("a remembered client's budget was forgotten")
	}
	if _, ok := h.allow(key("2001:db8:1:2::1"), now); !ok {
		t.Error("an IPv6 client refused its first handshake")
	}
	if wait, ok := h.allow(key("2001:db8:1:2:ffff::7"), now); ok || wait <= 0 {
		t.Errorf("another address of the same /64: admitted %v (wait %v), want refused", ok, wait)
	}
}

// TestMaxBackendDials: with one dial allowed per backend, a handshake
// that cannot get a dial within dial_timeout gets 503 with
// Retry-After without reaching the backend, and the slot is free again
// once the dial in progress ends.
func TestMaxBackendDials(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	var hold sync.Once
	backend := startBackend(t, echoConn)
	// The first handshake waits in front of the backend until released.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		hold.Do(func() {
			select {
			case <-release:
			case <-time.After(waitLimit):
			}
		})
		backend.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	cfg := testConfig(backendRoute("/a", "ws://"+front.Listener.Addr().String()+"/"))
	cfg.Limits.MaxBackendDials = 1
	cfg.Limits.DialTimeout = conftypes.Duration(200 * time.Millisecond) // also the wait for a slot
	tp := startProxy(t, cfg, false, withMetrics)
	first := make(chan struct{})
	go func() {
		defer close(first)
		if _, resp, err := tp.dialFrom(t, "127.0.0.2", tp.plainURL+"/a", nil, nil); err != nil {
			t.Errorf("the held handshake: %v (status %d)", err, statusOf(resp))
		}
	}()
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("the first handshake did not reach the backend")
	}
	before := takeLeftovers(t)
	_, resp, _ := tp.dialFrom(t, "127.0.0.3", tp.plainURL+"/a", nil, nil)
	refusedWith(t, "a second dial to a busy backend", resp, http.StatusServiceUnavailable, "5")
	before.expectNone(t)
	select {
	case <-entered:
		t.Error("the second handshake reached the backend")
	default:
	}
	close(release)
	select {
	case <-first:
	case <-time.After(waitLimit):
		t.Fatal("the first handshake did not finish")
	}
	tp.log.waitFor(t, "request refused", func(a map[string]string) bool {
		return a["status"] == "503" && a["limit"] == limitBackendDials && strings.Contains(a["err"], "too many dials in progress")
	})
	if n := counterValue(t, tp.srv.metrics.limitRefusals, "/a", limitBackendDials); n != 1 {
		t.Errorf("wsedge_limit_refusals_total{limit=max_backend_dials} = %v, want 1", n)
	}
	if _, resp, err := tp.dialFrom(t, "127.0.0.3", tp.plainURL+"/a", nil, nil); err != nil {
		t.Errorf("once the dial slot is free: %v (status %d)", err, statusOf(resp))
	}
}

// TestMaxHeaderBytes: a header block over limits.max_header_bytes gets
// 431, over plain and TLS.
func TestMaxHeaderBytes(t *testing.T) {
	cfg := testConfig(handlerRoute("/echo", "echo"))
	cfg.Limits.MaxHeaderBytes = 2 << 10
	tp := startProxy(t, cfg, true)
	big := http.Header{"X-Big": {strings.Repeat("x", 16<<10)}}
	for _, url := range []string{tp.plainURL, tp.tlsURL} {
		// A first handshake has the listener's goroutines all started.
		c, resp, err := tp.dialFrom(t, "127.0.0.2", url+"/echo", nil, nil)
		if err != nil {
			t.Fatalf("%s, small headers: %v (status %d)", url, err, statusOf(resp))
		}
		c.Close()
		tp.waitConnections(t, 0)
		before := takeLeftovers(t)
		for range 10 {
			_, resp, _ := tp.dialFrom(t, "127.0.0.2", url+"/echo", big, nil)
			if statusOf(resp) != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("%s: status %d, want 431", url, statusOf(resp))
			}
		}
		before.expectNone(t)
	}
}

// TestDefaultMaxConnections: unset, max_connections follows the open-file
// limit, leaving room for two descriptors per proxied connection.
func TestDefaultMaxConnections(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{{20000, 9950}, {1024, 462}, {50, 1}, {0, 0}, {1 << 62, 0}} {
		if got := connectionsForFiles(tc.nofile); got != tc.want {
			t.Errorf("connectionsForFiles(%d) = %d, want %d", tc.nofile, got, tc.want)
		}
	}
	cfg := testConfig(routes.Route{Path: "/echo"})
	if cs := settingsFrom(cfg); cs.maxConnections != connectionsForFiles(openFileLimit()) {
		t.Errorf("default max_connections %d, want %d", cs.maxConnections, connectionsForFiles(openFileLimit()))
	}
}

// TestHSTS: with tls.hsts, every response on the https listener carries
// Strict-Transport-Security (a refusal too), and none on the plain one.
func TestHSTS(t *testing.T) {
	backend := startBackend(t, echoConn)
	cfg := testConfig(handlerRoute("/echo", "echo"), backendRoute("/app", backend.wsURL("/")))
	tp := startProxy(t, cfg, true, func(d *Deps) { d.HSTS = "max-age=31536000" })
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tp.roots, ServerName: "127.0.0.1"}}}
	defer client.CloseIdleConnections()
	for _, base := range []string{"https" + strings.TrimPrefix(tp.tlsURL, "wss"), tp.httpURL()} {
		for _, path := range []string{"/echo", "/nowhere"} {
			resp, err := client.Get(base + path)
			if err != nil {
				t.Errorf("GET %s%s: %v", base, path, err)
				continue
			}
			resp.Body.Close()
			want := ""
			if resp.TLS != nil {
				want = "max-age=31536000"
			}
			if got := resp.Header.Get("Strict-Transport-Security"); got != want {
				t.Errorf("GET %s%s (%d): Strict-Transport-Security %q, want %q", base, path, resp.StatusCode, got, want)
			}
		}
	}
	for _, path := range []string{"/echo", "/app"} {
		_, resp, err := tp.dialFrom(t, "127.0.0.2", tp.tlsURL+path, nil, nil)
		if err != nil || resp.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
			t.Errorf("wss handshake on %s: %v, Strict-Transport-Security %q", path, err, resp.Header.Get("Strict-Transport-Security"))
		}
	}
}
