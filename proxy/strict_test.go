package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/wsframe"
)

// rawRequest sends a raw HTTP request to the proxy's plain listener and
// returns the response's status.
func (tp *testProxy) rawRequest(t *testing.T, request string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(tp.plainURL, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, request)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestHandshakeStrictness: what RFC 6455 section 4.1 requires of a
// handshake is enforced before any backend is dialled or built-in opened.
func TestHandshakeStrictness(t *testing.T) {
	backend := startBackend(t, echoConn)
	tp := startProxy(t, testConfig(backendRoute("/ws", backend.wsURL("/")), handlerRoute("/echo", "echo")), false)
	const headers = "Host: relay.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	for _, path := range []string{"/ws", "/echo"} {
		if got := tp.rawRequest(t, "GET "+path+" HTTP/1.0\r\n"+headers+"\r\n"); got != http.StatusBadRequest {
			t.Errorf("%s over HTTP/1.0: %d, want 400", path, got)
		}
		if got := tp.rawRequest(t, "GET "+path+" HTTP/1.1\r\n"+headers+"Sec-WebSocket-Protocol: chat, bad token\r\n\r\n"); got != http.StatusBadRequest {
			t.Errorf("%s offering a subprotocol that is not a token: %d, want 400", path, got)
		}
	}
	select {
	case r := <-backend.requests:
		t.Errorf("the backend was dialled for a refused handshake: %v", r.URL)
	default:
	}
}

// TestBackendSubprotocolNotOffered: a backend that answers 101 with a
// subprotocol the client never offered gets the client a 502, not a
// connection the client would have to fail.
func TestBackendSubprotocolNotOffered(t *testing.T) {
	var up websocket.Upgrader
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, http.Header{"Sec-Websocket-Protocol": {"evil"}})
		if err != nil {
			return
		}
		defer c.Close()
		c.ReadMessage() // until the proxy drops it
	}))
	t.Cleanup(backend.Close)
	tp := startProxy(t, testConfig(backendRoute("/ws", "ws://"+backend.Listener.Addr().String()+"/")), false)
	_, resp, err := tp.dial(t, "/ws", http.Header{"Sec-Websocket-Protocol": {"chat"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadGateway {
		t.Errorf("got %v, %v; want 502", resp, err)
	}
	tp.log.waitFor(t, "request refused", func(a map[string]string) bool {
		return a["status"] == "502" && strings.Contains(a["err"], `subprotocol the client did not offer: "evil"`)
	})
}

// TestBuiltinsFailBadPayloads: the built-ins fail a text message that is
// not UTF-8 with 1007 (RFC 6455 section 8.1), and a close frame whose
// payload is one byte with 1002 (section 5.5.1).
func TestBuiltinsFailBadPayloads(t *testing.T) {
	tp := startProxy(t, testConfig(handlerRoute("/echo", "echo"), handlerRoute("/room/:name", "broadcast")), false)
	for _, path := range []string{"/echo", "/room/a"} {
		c := tp.dialRawClient(t, path)
		c.send(true, wsframe.OpText, []byte("fine"))
		if f := c.readData(); string(f.payload) != "fine" {
			t.Errorf("%s: got %q, want the valid message back", path, f.payload)
		}
		c.send(true, wsframe.OpText, []byte("not \xff UTF-8"))
		c.expectClose(wsframe.CloseInvalidPayload, "invalid UTF-8 in a text message")
	}
	c := tp.dialRawClient(t, "/echo")
	c.send(true, wsframe.OpClose, []byte{0x03})
	c.expectClose(wsframe.CloseProtocolError, "close payload of one byte")
}

// TestOnlyNamedListenersOpen: the server opens the listeners its
// configuration names and no other.
func TestOnlyNamedListenersOpen(t *testing.T) {
	cfg := testConfig(handlerRoute("/echo", "echo"))
	cfg.Listen = ListenConfig{HTTPS: "127.0.0.1:0"}
	rt, err := Build(cfg, BuildDeps{Log: slog.New(slog.DiscardHandler)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, rt, Deps{Log: slog.New(slog.DiscardHandler), TLS: &tls.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.relay.Close(); rt.Close() }()
	ls, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	if ls.HTTP != nil || ls.HTTPS == nil {
		t.Errorf("listeners opened: plain %v, TLS %v; want only TLS", ls.HTTP, ls.HTTPS)
	}
}

// TestOriginPolicy: a route's origins decide which pages may open a
// WebSocket on it, before the backend is dialled; a backend route admits
// any page unless told otherwise, a built-in only its own host's.
func TestOriginPolicy(t *testing.T) {
	backend := startBackendWith(t, websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}, echoConn)
	strict := backendRoute("/app", backend.wsURL("/"))
	strict.Origins = []string{"https://app.example.com", "https://*.example.org"}
	open := backendRoute("/open", backend.wsURL("/"))
	echo := handlerRoute("/echo", "echo")
	anyEcho := handlerRoute("/any-echo", "echo")
	anyEcho.Origins = []string{"any"}
	tp := startProxy(t, testConfig(strict, open, echo, anyEcho), false)
	self := "http://" + strings.TrimPrefix(tp.plainURL, "ws://")
	cases := []struct {
		path, origin string
		want         int
	}{
		{"/app", "https://app.example.com", http.StatusSwitchingProtocols},
		{"/app", "https://chat.example.org", http.StatusSwitchingProtocols},
		{"/app", "https://evil.example", http.StatusForbidden},
		{"/app", self, http.StatusForbidden}, // not listed
		{"/open", "https://evil.example", http.StatusSwitchingProtocols},
		{"/echo", self, http.StatusSwitchingProtocols},
		{"/echo", "https://evil.example", http.StatusForbidden},
		{"/any-echo", "https://evil.example", http.StatusSwitchingProtocols},
	}
	for _, tc := range cases {
		c, resp, _ := tp.dial(t, tc.path, http.Header{"Origin": {tc.origin}})
		if c != nil {
			c.Close()
		}
		if resp == nil || resp.StatusCode != tc.want {
			t.Errorf("%s from %s: %v, want %d", tc.path, tc.origin, resp, tc.want)
		}
	}
	// Refused pages never reached the backend: it saw the three admitted.
	backend.expectRequests(t, 3)
	tp.log.waitFor(t, "request refused", func(a map[string]string) bool {
		return a["status"] == "403" && a["origin"] == "https://evil.example"
	})
}

// TestSlowHandshakesAreClosed: a client that opens a connection and then
// sends nothing, or completes TLS and then sends no request, is closed
// after handshake_timeout (plain and TLS), not held until some idle
// timeout: the header read timeout covers the TLS handshake too.
func TestSlowHandshakesAreClosed(t *testing.T) {
	cfg := testConfig(handlerRoute("/echo", "echo"))
	cfg.Limits.HandshakeTimeout = conftypes.Duration(300 * time.Millisecond)
	cfg.Limits.DialTimeout = cfg.Limits.HandshakeTimeout
	tp := startProxy(t, cfg, true)
	expectClosed := func(name string, c net.Conn) {
		t.Helper()
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(waitLimit))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("%s: the server sent data to a client that sent nothing", name)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: still open after %v (handshake_timeout 300ms)", name, waitLimit)
		}
	}
	plain, err := net.Dial("tcp", strings.TrimPrefix(tp.plainURL, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	expectClosed("plain, no request", plain)
	tlsAddr := strings.TrimPrefix(tp.tlsURL, "wss://")
	raw, err := net.Dial("tcp", tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	expectClosed("TLS, no ClientHello", raw)
	tc, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: tp.roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	expectClosed("TLS done, no request", tc)
}
