package proxy

import (
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/wsframe"
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

// TestKeepaliveCountsDataAsLife: a peer that never answers pings but keeps
// sending data is alive, on a proxied route and on a built-in one alike
// (both share one lifecycle).
func TestKeepaliveCountsDataAsLife(t *testing.T) {
	backend := startBackend(t, echoConn)
	tp := startProxy(t, fastKeepalive(testConfig(
		backendRoute("/ws", backend.wsURL("/")),
		handlerRoute("/echo", "echo"),
	)), false)
	for _, path := range []string{"/ws", "/echo"} {
		t.Run(path, func(t *testing.T) {
			c := tp.dialRawClient(t, path)
			// Ten pong timeouts of data and no pong. The pacing is the
			// scenario: a chatty peer that ignores pings.
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			pings := 0
			for i := range 75 {
				<-tick.C
				c.send(true, wsframe.OpText, []byte("tick"))
				for {
					f := c.readFrame()
					if f.h.Op == wsframe.OpPing {
						pings++
						continue
					}
					if f.h.Op != wsframe.OpText || string(f.payload) != "tick" {
						t.Fatalf("message %d: got opcode %d %q, want the echo (the peer was declared dead?)", i, f.h.Op, f.payload)
					}
					break
				}
			}
			if pings < 3 {
				t.Errorf("got %d pings in 1.5s of 50ms keepalive, so the test proved nothing", pings)
			}
		})
	}
}
