package proxy

import (
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// fastKeepalive makes the proxy ping every 50ms and give up after 150ms of
// silence, so dead peers are found within the test's wait limit.
func fastKeepalive(cfg Config) Config {
	cfg.Keepalive = KeepaliveConfig{
		PingInterval: conftypes.Duration(50 * time.Millisecond),
		PongTimeout:  conftypes.Duration(150 * time.Millisecond),
	}
	return cfg
}

func TestKeepaliveDetectsSilentBackend(t *testing.T) {
	// This backend never reads, so it never answers a ping.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	backend := startBackend(t, func(*websocket.Conn, *http.Request) { <-release })
	tp := startProxy(t, fastKeepalive(testConfig(backendRoute("/ws", backend.wsURL("/")))), false)
	c := tp.mustDial(t, "/ws")

	if ce := readClose(t, c); ce.Code != closeBackendLost || ce.Text != "backend ping timeout" {
		t.Errorf("client got close %d %q, want %d %q", ce.Code, ce.Text, closeBackendLost, "backend ping timeout")
	}
	tp.log.waitFor(t, "websocket closed", func(a map[string]string) bool { return a["cause"] == "backend ping timeout" })
}

func TestKeepaliveDetectsSilentClient(t *testing.T) {
	got := make(chan *websocket.CloseError, 1)
	backend := closingBackend(t, got)
	tp := startProxy(t, fastKeepalive(testConfig(backendRoute("/ws", backend.wsURL("/")))), false)
	tp.mustDial(t, "/ws") // and never read: no pongs

	select {
	case ce := <-got:
		if ce == nil || ce.Code != closeClientLost || ce.Text != "client ping timeout" {
			t.Errorf("backend got close %v, want %d %q", ce, closeClientLost, "client ping timeout")
		}
	case <-time.After(waitLimit):
		t.Fatal("a silent client was not detected")
	}
}

func TestKeepaliveKeepsLivePeersOpen(t *testing.T) {
	const wantPings = 5
	backendPings := make(chan struct{}, 100)
	backend := startBackend(t, func(c *websocket.Conn, r *http.Request) {
		answer := c.PingHandler()
		c.SetPingHandler(func(s string) error {
			backendPings <- struct{}{}
			return answer(s)
		})
		echoConn(c, r)
	})
	tp := startProxy(t, fastKeepalive(testConfig(backendRoute("/ws", backend.wsURL("/")))), false)
	c := tp.mustDial(t, "/ws")

	clientPings := make(chan struct{}, 100)
	answer := c.PingHandler()
	c.SetPingHandler(func(s string) error {
		clientPings <- struct{}{}
		return answer(s)
	})
	messages := make(chan string, 1)
	go func() {
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				close(messages)
				return
			}
			messages <- string(data)
		}
	}()
	// Both legs are pinged many times over the pong timeout and stay open.
	for i := 0; i < wantPings; i++ {
		for _, pings := range []chan struct{}{clientPings, backendPings} {
			select {
			case <-pings:
			case <-time.After(waitLimit):
				t.Fatalf("ping %d never came", i)
			}
		}
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if got := <-messages; got != "still here" {
		t.Errorf("after %d pings: got %q, want the echo", wantPings, got)
	}
}
