package proxy

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	proxyproto "github.com/pires/go-proxyproto"
)

// TestIPRules: allow and deny, at the top level and per route, refuse a
// client with 403 before anything is dialled, log it, and leave nothing
// behind.
func TestIPRules(t *testing.T) {
	backend := startBackend(t, echoConn)
	open := backendRoute("/open", backend.wsURL("/"))
	open.Deny = []string{} // overrides the top-level deny with nothing
	office := backendRoute("/office", backend.wsURL("/"))
	office.Allow = []string{"127.0.0.3/32"}
	inherits := backendRoute("/inherits", backend.wsURL("/"))
	cfg := testConfig(open, office, inherits)
	cfg.Deny = []string{"127.0.0.2"}
	tp := startProxy(t, cfg, false)
	cases := []struct {
		src, path string
		want      int
	}{
		{"127.0.0.2", "/inherits", http.StatusForbidden},
		{"127.0.0.2", "/nowhere", http.StatusForbidden}, // not a 404: nothing is told
		{"127.0.0.2", "/open", http.StatusSwitchingProtocols},
		{"127.0.0.4", "/office", http.StatusForbidden},
		{"127.0.0.3", "/office", http.StatusSwitchingProtocols},
		{"127.0.0.4", "/inherits", http.StatusSwitchingProtocols},
		{"127.0.0.4", "/nowhere", http.StatusNotFound},
	}
	for _, tc := range cases {
		c, resp, _ := tp.dialFrom(t, tc.src, tp.plainURL+tc.path, nil, nil)
		if c != nil {
			c.Close()
		}
		if statusOf(resp) != tc.want {
			t.Errorf("%s from %s: status %d, want %d", tc.path, tc.src, statusOf(resp), tc.want)
		}
	}
	backend.expectRequests(t, 3)
	tp.log.waitFor(t, "request refused", func(a map[string]string) bool {
		return a["status"] == "403" && strings.HasPrefix(a["client"], "127.0.0.2:") && a["err"] == "client address not allowed"
	})
	tp.waitConnections(t, 0)
	before := takeLeftovers(t)
	for range 50 {
		if _, resp, _ := tp.dialFrom(t, "127.0.0.2", tp.plainURL+"/inherits", nil, nil); statusOf(resp) != http.StatusForbidden {
			t.Fatalf("status %d, want 403", statusOf(resp))
		}
	}
	before.expectNone(t)
}

// TestTrustedProxies: from a trusted proxy, the client is the nearest
// untrusted hop of X-Forwarded-For (logs and allow/deny use it), and the
// backend gets the header appended to; from anyone else what a client
// says of earlier hops is replaced, for WebSockets and plain requests.
func TestTrustedProxies(t *testing.T) {
	headers := make(chan http.Header, 4)
	backend := startMixedBackend(t, websocket.Upgrader{}, func(c *websocket.Conn, r *http.Request) {
		headers <- r.Header
		echoConn(c, r)
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { headers <- r.Header }))
	app := backendRoute("/app", backend.wsURL("/"))
	guarded := backendRoute("/guarded", backend.wsURL("/"))
	guarded.Deny = []string{"203.0.113.0/24"}
	cfg := testConfig(app, guarded)
	cfg.TrustedProxies = []string{"127.0.0.1", "10.0.0.0/8"}
	tp := startProxy(t, cfg, false)
	forged := http.Header{
		"X-Forwarded-For":   {"198.51.100.1, 203.0.113.9", "10.1.1.1"},
		"X-Forwarded-Proto": {"https"},
		"X-Real-Ip":         {"192.0.2.1"},
		"Forwarded":         {"for=192.0.2.1"},
	}
	next := func() http.Header {
		t.Helper()
		select {
		case h := <-headers:
			return h
		case <-time.After(waitLimit):
			t.Fatal("the backend got no request")
			return nil
		}
	}
	expect := func(who string, h http.Header, want map[string]string) {
		t.Helper()
		for k, v := range want {
			if got := strings.Join(h[http.CanonicalHeaderKey(k)], " | "); got != v {
				t.Errorf("%s: backend got %s %q, want %q", who, k, got, v)
			}
		}
	}
	// Trusted peer (127.0.0.1).
	c, resp, err := tp.dialFrom(t, "127.0.0.1", tp.plainURL+"/app", forged, nil)
	if err != nil {
		t.Fatalf("through a trusted proxy: %v (%d)", err, statusOf(resp))
	}
	c.Close()
	expect("trusted", next(), map[string]string{
		"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.1.1.1, 127.0.0.1", "X-Real-Ip": "203.0.113.9",
		"X-Forwarded-Proto": "https", "Forwarded": "for=192.0.2.1",
	})
	tp.log.waitFor(t, "websocket opened", func(a map[string]string) bool { return a["client"] == "203.0.113.9" })
	if _, resp, _ := tp.dialFrom(t, "127.0.0.1", tp.plainURL+"/guarded", forged, nil); statusOf(resp) != http.StatusForbidden {
		t.Errorf("deny 203.0.113.0/24 through a trusted proxy: status %d, want 403", statusOf(resp))
	}
	req, _ := http.NewRequest(http.MethodGet, tp.httpURL()+"/app", nil)
	req.Header = forged.Clone()
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatalf("plain request: %v", err)
	} else {
		resp.Body.Close()
	}
	expect("trusted, plain request", next(), map[string]string{
		"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.1.1.1, 127.0.0.1", "X-Real-Ip": "203.0.113.9",
	})
	// Untrusted peer (127.0.0.2): nothing it says is believed.
	c, resp, err = tp.dialFrom(t, "127.0.0.2", tp.plainURL+"/guarded", forged, nil)
	if err != nil {
		t.Fatalf("from an untrusted peer: %v (%d)", err, statusOf(resp))
	}
	c.Close()
	expect("untrusted", next(), map[string]string{
		"X-Forwarded-For": "127.0.0.2", "X-Real-Ip": "127.0.0.2", "X-Forwarded-Proto": "http", "Forwarded": "",
	})
}

// TestProxyProtocol: with listen.proxy_protocol, a trusted peer's PROXY
// header (v1 or v2, plain or before TLS) gives the client's address, and
// the relay still takes the socket over; an untrusted peer's header is a
// bad request, and a trusted peer without one is dropped.
func TestProxyProtocol(t *testing.T) {
	cfg := testConfig(handlerRoute("/echo", "echo"))
	cfg.TrustedProxies = []string{"127.0.0.1"}
	cfg.Listen.ProxyProtocol = true
	cfg.Routes[0].Origins = []string{"any"}
	tp := startProxy(t, cfg, true)
	header := func(version byte, src string) []byte {
		h := proxyproto.HeaderProxyFromAddrs(version, &net.TCPAddr{IP: net.ParseIP(src), Port: 4711}, &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 443})
		var b bytes.Buffer
		if _, err := h.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, tc := range []struct {
		name, url, client string
		version           byte
	}{
		{"v1 plain", tp.plainURL, "192.0.2.10", 1},
		{"v2 plain", tp.plainURL, "2001:db8::10", 2},
		{"v1 TLS", tp.tlsURL, "192.0.2.11", 1},
		{"v2 TLS", tp.tlsURL, "192.0.2.12", 2},
	} {
		c, resp, err := tp.dialFrom(t, "127.0.0.1", tc.url+"/echo", nil, header(tc.version, tc.client))
		if err != nil {
			t.Errorf("%s: %v (status %d)", tc.name, err, statusOf(resp))
			continue
		}
		// Relayed on the loop's socket: a message makes the round trip.
		c.SetReadDeadline(time.Now().Add(waitLimit))
		if err := c.WriteMessage(websocket.TextMessage, []byte(tc.name)); err != nil {
			t.Errorf("%s: write: %v", tc.name, err)
		} else if _, got, err := c.ReadMessage(); err != nil || string(got) != tc.name {
			t.Errorf("%s: echo %q, %v", tc.name, got, err)
		}
		c.Close()
		want := net.JoinHostPort(tc.client, "4711")
		tp.log.waitFor(t, "websocket opened", func(a map[string]string) bool { return a["client"] == want })
	}
	// An untrusted peer's header is not believed: the request is garbage.
	if _, resp, err := tp.dialFrom(t, "127.0.0.2", tp.plainURL+"/echo", nil, header(1, "192.0.2.13")); err == nil || statusOf(resp) != http.StatusBadRequest {
		t.Errorf("PROXY header from an untrusted peer: %v, status %d; want 400", err, statusOf(resp))
	}
	// A trusted peer must send one.
	if c, resp, err := tp.dialFrom(t, "127.0.0.1", tp.plainURL+"/echo", nil, nil); err == nil {
		c.Close()
		t.Errorf("a trusted peer without a PROXY header was served (status %d)", statusOf(resp))
	}
	// Untrusted peers without one are served as ever.
	if c, resp, err := tp.dialFrom(t, "127.0.0.2", tp.tlsURL+"/echo", nil, nil); err != nil {
		t.Errorf("an untrusted peer without a header: %v (status %d)", err, statusOf(resp))
	} else {
		c.Close()
	}
}
