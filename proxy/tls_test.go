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
	tp := startProxy(t, testConfig(backendRoute("/ws", backend.wsURL("/"))), true)

	cases := []struct {
		name       string
		nextProtos []string
	}{
		{"http/1.1 client", []string{"http/1.1"}},
		// A client that prefers h2 must still land on HTTP/1.1, where
		// the upgrade exists.
		{"h2-first client", []string{"h2", "http/1.1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
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
