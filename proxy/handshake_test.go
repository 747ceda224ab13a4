package proxy

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/wstest"
)

func TestParamsSubstitutedAndEscaped(t *testing.T) {
	backend := startBackend(t, echoConn)
	tp := startProxy(t, testConfig(
		backendRoute("/light/:status", backend.wsURL("/light/{status}")),
		backendRoute("/logs/*file", backend.wsURL("/tail/{file}")),
	), false)

	accepted := []struct {
		name, path        string
		wantPath, wantRaw string // what the backend sees: escaped path and raw query
	}{
		{"param and query", "/light/on?token=abc&x=1", "/light/on", "token=abc&x=1"},
		{"reserved characters stay data", "/light/a%3Fb%23c%25", "/light/a%3Fb%23c%25", ""},
		{"unicode", "/light/caf%C3%A9", "/light/caf%C3%A9", ""},
		{"catch-all keeps its slashes", "/logs/app/2026/today.log", "/tail/app/2026/today.log", ""},
		{"catch-all escapes spaces", "/logs/a%20b.log?n=5", "/tail/a%20b.log", "n=5"},
		{"dots inside a name are fine", "/logs/..hidden/x..y", "/tail/..hidden/x..y", ""},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			c := tp.mustDial(t, tc.path)
			var r *http.Request
			select {
			case r = <-backend.requests:
			case <-time.After(waitLimit):
				t.Fatal("backend got no handshake")
			}
			if got := r.URL.EscapedPath(); got != tc.wantPath {
				t.Errorf("backend path: got %q, want %q", got, tc.wantPath)
			}
			if r.URL.RawQuery != tc.wantRaw {
				t.Errorf("backend query: got %q, want %q", r.URL.RawQuery, tc.wantRaw)
			}
			c.Close()
		})
	}

	refused := []struct {
		name, path string
		wantStatus int
	}{
		{"encoded traversal in catch-all", "/logs/..%2F..%2Fetc%2Fpasswd", http.StatusBadRequest},
		{"plain traversal in catch-all", "/logs/a/../../secret", http.StatusBadRequest},
		{"encoded dot-dot param", "/light/%2e%2e", http.StatusBadRequest},
		{"dot param", "/light/.", http.StatusBadRequest},
		{"encoded slash does not fit one segment", "/light/a%2Fb", http.StatusNotFound},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := tp.dial(t, tc.path, nil)
			if err == nil {
				t.Fatalf("dial %s succeeded, want %d", tc.path, tc.wantStatus)
			}
			if got := statusOf(resp); got != tc.wantStatus {
				t.Errorf("status: got %d, want %d", got, tc.wantStatus)
			}
		})
	}
	select {
	case r := <-backend.requests:
		t.Errorf("a refused request reached the backend: %s", r.URL)
	default:
	}
}

func TestSubprotocolNegotiation(t *testing.T) {
	offered := make(chan []string, 4)
	backend := startBackendWith(t, websocket.Upgrader{Subprotocols: []string{"chat.v2", "chat.v1"}}, func(c *websocket.Conn, r *http.Request) {
		offered <- websocket.Subprotocols(r)
		echoConn(c, r)
	})
	tp := startProxy(t, testConfig(backendRoute("/ws", backend.wsURL("/"))), false)

	cases := []struct {
		name  string
		offer []string
		want  string
	}{
		{"backend picks from the client's list", []string{"chat.v1", "chat.v2"}, "chat.v2"},
		{"no common protocol", []string{"mqtt"}, ""},
		{"none offered", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := websocket.Dialer{Subprotocols: tc.offer}
			c, _, err := d.Dial(tp.plainURL+"/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.Subprotocol(); got != tc.want {
				t.Errorf("client's subprotocol: got %q, want %q", got, tc.want)
			}
			if got := <-offered; strings.Join(got, ",") != strings.Join(tc.offer, ",") {
				t.Errorf("backend was offered %q, want %q", got, tc.offer)
			}
		})
	}
}

func TestBackendRefusalRelayed(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Reason", "token expired")
		w.Header().Set("Set-Cookie", "session=gone")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "forbidden by backend")
	}))
	t.Cleanup(backend.Close)
	tp := startProxy(t, testConfig(backendRoute("/ws", "ws://"+backend.Listener.Addr().String()+"/")), false)

	_, resp, err := tp.dial(t, "/ws", nil)
	if !errors.Is(err, websocket.ErrBadHandshake) {
		t.Fatalf("dial: got %v, want a bad handshake", err)
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("status: got %d, want 403", resp.StatusCode)
	}
	if got := resp.Header.Get("X-Reason"); got != "token expired" {
		t.Errorf("X-Reason: got %q, want the backend's", got)
	}
	if got := resp.Header.Get("Set-Cookie"); got != "session=gone" {
		t.Errorf("Set-Cookie: got %q, want the backend's", got)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "forbidden by backend" {
		t.Errorf("body: got %q, want the backend's", body)
	}
}

func TestBackendUnreachable(t *testing.T) {
	// A listener that accepts and never answers: the handshake times out.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	t.Cleanup(func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	})

	refusedAddr := wstest.ClosedAddr(t)
	cfg := testConfig(
		backendRoute("/refused", "ws://"+refusedAddr+"/"),
		backendRoute("/silent", "ws://"+silent.Addr().String()+"/"),
	)
	cfg.Limits.HandshakeTimeout = conftypes.Duration(300 * time.Millisecond)
	cfg.Limits.DialTimeout = cfg.Limits.HandshakeTimeout
	tp := startProxy(t, cfg, false)

	cases := []struct {
		path       string
		wantStatus int
		wantBody   string
	}{
		{"/refused", http.StatusBadGateway, "bad gateway"},
		{"/silent", http.StatusGatewayTimeout, "gateway timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			_, resp, err := tp.dial(t, tc.path, nil)
			if err == nil {
				t.Fatal("dial succeeded")
			}
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("body: got %q, want it to say %q", body, tc.wantBody)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type: got %q, want text/plain", ct)
			}
			attrs := tp.log.waitFor(t, "request refused", func(a map[string]string) bool {
				return a["status"] == strconv.Itoa(tc.wantStatus)
			})
			if attrs["route"] != tc.path || !strings.Contains(attrs["err"], "dial backend ws://") {
				t.Errorf("log line should name the route and backend: %v", attrs)
			}
		})
	}
}

func TestHeadersForwarded(t *testing.T) {
	// The Origin below is cross-site; this backend accepts it, so the test
	// sees what was forwarded (a strict backend's 403 would be relayed).
	allowAny := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	backend := startBackendWith(t, allowAny, echoConn)
	tp := startProxy(t, testConfig(backendRoute("/ws", backend.wsURL("/"))), false)

	h := http.Header{}
	h.Set("Cookie", "sid=42")
	h.Set("Authorization", "Bearer t0ken")
	h.Set("Origin", "https://app.example")
	h.Set("X-App", "yes")
	h.Set("X-Forwarded-For", "6.6.6.6")
	h.Set("X-Forwarded-Proto", "gopher")
	h.Set("Forwarded", "for=6.6.6.6")
	h.Set("X-Real-IP", "6.6.6.6")
	d := websocket.Dialer{EnableCompression: true}
	c, _, err := d.Dial(tp.plainURL+"/ws", h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := <-backend.requests

	proxyHost := strings.TrimPrefix(tp.plainURL, "ws://")
	want := map[string]string{
		"Cookie":            "sid=42",
		"Authorization":     "Bearer t0ken",
		"Origin":            "https://app.example",
		"X-App":             "yes",
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  proxyHost,
		"Forwarded":         "",
		"X-Real-Ip":         "127.0.0.1",
		// compression: passthrough (the default) forwards the offer.
		"Sec-Websocket-Extensions": "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
	}
	for k, v := range want {
		if got := strings.Join(r.Header.Values(k), ","); got != v {
			t.Errorf("backend header %s: got %q, want %q", k, got, v)
		}
	}
	if r.Host != proxyHost {
		t.Errorf("backend Host: got %q, want the client's %q", r.Host, proxyHost)
	}
}

func TestHopByHopHeadersDropped(t *testing.T) {
	backend := startBackend(t, echoConn)
	tp := startProxy(t, testConfig(backendRoute("/ws", backend.wsURL("/"))), false)

	// gorilla's Dialer will not send a custom Connection header, so speak
	// the handshake by hand.
	conn, err := net.Dial("tcp", strings.TrimPrefix(tp.plainURL, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: edge.test\r\n"+
		"Upgrade: websocket\r\nConnection: Upgrade, X-Hop\r\nX-Hop: secret\r\n"+
		"Keep-Alive: timeout=5\r\nProxy-Authorization: Basic eDp5\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status: got %d, want 101", resp.StatusCode)
	}
	if got, want := resp.Header.Get("Sec-Websocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("accept key: got %q, want %q (RFC 6455 section 1.3)", got, want)
	}
	r := <-backend.requests
	for _, k := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization"} {
		if v := r.Header.Get(k); v != "" {
			t.Errorf("hop-by-hop header %s reached the backend: %q", k, v)
		}
	}
	if r.Host != "edge.test" || r.Header.Get("X-Forwarded-Host") != "edge.test" {
		t.Errorf("backend Host %q, X-Forwarded-Host %q: want edge.test", r.Host, r.Header.Get("X-Forwarded-Host"))
	}
}

func TestBadClientHandshake(t *testing.T) {
	backend := startBackend(t, echoConn)
	tp := startProxy(t, testConfig(backendRoute("/ws", backend.wsURL("/")), handlerRoute("/echo", "echo")), false)

	cases := []struct {
		name       string
		method     string
		header     map[string]string
		wantStatus int
		wantHeader [2]string
	}{
		{"old version", "GET", map[string]string{"Sec-WebSocket-Version": "8"}, http.StatusUpgradeRequired, [2]string{"Sec-Websocket-Version", "13"}},
		{"bad key", "GET", map[string]string{"Sec-WebSocket-Key": "short"}, http.StatusBadRequest, [2]string{}},
		{"not GET", "POST", nil, http.StatusMethodNotAllowed, [2]string{}},
	}
	for _, path := range []string{"/ws", "/echo"} {
		for _, tc := range cases {
			t.Run(path+" "+tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(tc.method, tp.httpURL()+path, nil)
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
				req.Header.Set("Sec-WebSocket-Version", "13")
				req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.wantStatus {
					t.Errorf("status: got %d, want %d", resp.StatusCode, tc.wantStatus)
				}
				if k := tc.wantHeader[0]; k != "" && resp.Header.Get(k) != tc.wantHeader[1] {
					t.Errorf("%s: got %q, want %q", k, resp.Header.Get(k), tc.wantHeader[1])
				}
			})
		}
	}
	select {
	case <-backend.requests:
		t.Error("a bad handshake reached the backend")
	default:
	}
}

func TestPlainHTTPOnBackendRoute(t *testing.T) {
	// One backend serves a page and a socket on one port, like a tornado app.
	seen := make(chan *http.Request, 4)
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r
		w.Header().Set("X-Backend", "tornado")
		io.WriteString(w, "page for "+r.URL.Path)
	})
	backend := startMixedBackend(t, websocket.Upgrader{}, echoConn, page)
	tp := startProxy(t, testConfig(backendRoute("/light/:status", backend.wsURL("/light/{status}"))), false)

	req, _ := http.NewRequest("GET", tp.httpURL()+"/light/on?x=1", nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Real-IP", "6.6.6.6")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "h2c")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Backend") != "tornado" || string(body) != "page for /light/on" {
		t.Fatalf("got %s X-Backend=%q %q, want 200 and the backend's page", resp.Status, resp.Header.Get("X-Backend"), body)
	}
	r := <-seen
	if r.URL.Path != "/light/on" || r.URL.RawQuery != "x=1" {
		t.Errorf("backend got %s, want /light/on?x=1", r.URL)
	}
	for _, k := range []string{"X-Forwarded-For", "X-Real-Ip"} {
		if got := r.Header.Get(k); got != "127.0.0.1" {
			t.Errorf("%s: got %q, want it replaced by the client's address", k, got)
		}
	}
	if got := r.Header.Get("Upgrade"); got != "" {
		t.Errorf("a non-WebSocket Upgrade reached the backend: %q", got)
	}

	// The socket on the same route still works.
	c := tp.mustDial(t, "/light/off")
	if err := c.WriteMessage(websocket.TextMessage, []byte("toggle")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "toggle" {
		t.Errorf("socket on the page's route: got %q, %v", got, err)
	}

	// A backend that is down is a 502 for plain requests too.
	tp2 := startProxy(t, testConfig(backendRoute("/p", "ws://"+wstest.ClosedAddr(t)+"/")), false)
	resp, err = http.Get(tp2.httpURL() + "/p")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("plain request to a dead backend: got %d, want 502", resp.StatusCode)
	}
}

// TestOperationalLogLines: an upgrade is logged at info with its route,
// backend and handshake time; a plain request on a backend route gets an
// access line; refusals are logged at info, a few a second per status at
// most, the rest counted.
func TestOperationalLogLines(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "twelve bytes") })
	backend := startMixedBackend(t, websocket.Upgrader{}, echoConn, page)
	tp := startProxy(t, testConfig(backendRoute("/app", backend.wsURL("/app"))), false)

	tp.mustDial(t, "/app")
	opened := tp.log.waitFor(t, "websocket opened", nil)
	if opened["route"] != "/app" || opened["backend"] == "" || opened["handshake"] == "" {
		t.Errorf("upgrade line: %v", opened)
	}
	resp, err := http.Get(tp.httpURL() + "/app?secret=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	access := tp.log.waitFor(t, "http request", nil)
	if access["method"] != "GET" || access["path"] != "/app" || access["status"] != "200" || access["bytes"] != "12" || access["duration"] == "" {
		t.Errorf("access line: %v (want GET /app without its query, 200, 12 bytes, a duration)", access)
	}

	const flood = 50
	for range flood {
		resp, err := http.Get(tp.httpURL() + "/nowhere")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	levels, lines := map[slog.Level]int{}, 0
	tp.log.mu.Lock()
	for _, r := range tp.log.records {
		if r.Message == "request refused" {
			levels[r.Level]++
			lines++
		}
	}
	tp.log.mu.Unlock()
	if levels[slog.LevelInfo] != lines || lines < 1 || lines >= flood {
		t.Errorf("%d refusals logged (levels %v): want at info, and fewer than the %d refused", lines, levels, flood)
	}
}
