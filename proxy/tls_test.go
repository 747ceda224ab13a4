package proxy

import (
	"crypto/tls"
	"net/http"
	"testing"

	"github.com/gorilla/websocket"
)

func TestWSSEndToEnd(t *testing.T) {
	backend := startBackend(t, func(c *websocket.Conn, r *http.Request) {
		if got := r.Header.Get("X-Forwarded-Proto"); got != "https" {
			t.Errorf("X-Forwarded-Proto: got %q, want https", got)
		}
		echoConn(c, r)
	})
	cases := []struct {
		name       string
		nextProtos []string
		http2      bool
	}{
		{"http/1.1 client", []string{"http/1.1"}, true},
		// Without listen.http2, a client that prefers h2 must still land
		// on HTTP/1.1, where the upgrade exists. (With it, such a client
		// gets h2 and opens WebSockets as streams: see h2_test.go.)
		{"h2-first client, http2 off", []string{"h2", "http/1.1"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(backendRoute("/ws", backend.wsURL("/")))
			cfg.Listen.HTTP2 = &tc.http2
			tp := startProxy(t, cfg, true)
			d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: tp.roots, NextProtos: tc.nextProtos}}
			c, _, err := d.Dial(tp.tlsURL+"/ws", nil)
			if err != nil {
				t.Fatalf("wss dial: %v", err)
			}
			defer c.Close()
			state := c.NetConn().(*tls.Conn).ConnectionState()
			if state.NegotiatedProtocol != "http/1.1" {
				t.Errorf("ALPN: got %q, want http/1.1", state.NegotiatedProtocol)
			}
			if err := c.WriteMessage(websocket.TextMessage, []byte("over tls")); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.ReadMessage(); err != nil || string(got) != "over tls" {
				t.Errorf("echo over wss: got %q, %v", got, err)
			}
		})
	}
}
