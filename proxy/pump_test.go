package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// closingBackend reports the close frame it receives, then lets gorilla's
// default close handler answer it.
func closingBackend(t *testing.T, got chan<- *websocket.CloseError) *wsBackend {
	return startBackend(t, func(c *websocket.Conn, _ *http.Request) {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					got <- ce
				} else {
					got <- nil
				}
				return
			}
		}
	})
}

func TestClientCloseRelayedToBackend(t *testing.T) {
	cases := []struct {
		name     string
		payload  []byte
		wantCode int
		wantText string
	}{
		{"application code and reason", websocket.FormatCloseMessage(4001, "bye"), 4001, "bye"},
		{"normal closure", websocket.FormatCloseMessage(websocket.CloseNormalClosure, "done"), 1000, "done"},
		{"no status", []byte{}, websocket.CloseNoStatusReceived, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan *websocket.CloseError, 1)
			backend := closingBackend(t, got)
			tp := startProxy(t, testConfig(backendRoute("/ws", backend.wsURL("/"))), false)
			c := tp.mustDial(t, "/ws")

			if err := c.WriteControl(websocket.CloseMessage, tc.payload, time.Now().Add(waitLimit)); err != nil {
				t.Fatal(err)
			}
			select {
			case ce := <-got:
				if ce == nil || ce.Code != tc.wantCode || ce.Text != tc.wantText {
					t.Fatalf("backend got close %v, want %d %q", ce, tc.wantCode, tc.wantText)
				}
			case <-time.After(waitLimit):
				t.Fatal("backend got no close frame")
			}
			// The backend's reply (its default handler echoes the code)
			// completes the client's handshake.
			if reply := readClose(t, c); reply.Code != tc.wantCode {
				t.Errorf("client got reply %d, want %d", reply.Code, tc.wantCode)
			}
			tp.log.waitFor(t, "websocket closed", func(a map[string]string) bool {
				return a["client_close"] == strconv.Itoa(tc.wantCode) && a["backend_close"] == strconv.Itoa(tc.wantCode)
			})
		})
	}
}

func TestBackendCloseRelayedToClient(t *testing.T) {
	replies := make(chan *websocket.CloseError, 1)
	backend := startBackend(t, func(c *websocket.Conn, _ *http.Request) {
		msg := websocket.FormatCloseMessage(4002, "server says bye")
		if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(waitLimit)); err != nil {
			t.Errorf("backend close: %v", err)
			return
		}
		_, _, err := c.ReadMessage()
		ce, _ := err.(*websocket.CloseError)
		replies <- ce
	})
	tp := startProxy(t, testConfig(backendRoute("/ws", backend.wsURL("/"))), false)
	c := tp.mustDial(t, "/ws")

	if ce := readClose(t, c); ce.Code != 4002 || ce.Text != "server says bye" {
		t.Errorf("client got close %d %q, want 4002 %q", ce.Code, ce.Text, "server says bye")
	}
	select {
	case ce := <-replies:
		if ce == nil || ce.Code != 4002 {
			t.Errorf("backend got reply %v, want 4002", ce)
		}
	case <-time.After(waitLimit):
		t.Fatal("backend got no reply to its close")
	}
}

func TestLargeBinaryMessageIntact(t *testing.T) {
	backend := startBackend(t, echoConn)
	cfg := testConfig(backendRoute("/ws", backend.wsURL("/")))
	cfg.Limits.MaxMessageBytes = 8 << 20
	tp := startProxy(t, cfg, false)
	c := tp.mustDial(t, "/ws")

	msg := make([]byte, 4<<20)
	rand.Read(msg)
	if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	mt, got, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if mt != websocket.BinaryMessage {
		t.Errorf("type: got %d, want binary", mt)
	}
	if len(got) != len(msg) || sha256.Sum256(got) != sha256.Sum256(msg) {
		t.Errorf("4 MiB message changed on the way: got %d bytes", len(got))
	}
}

func TestOrderAndTypeKeptOver10000Messages(t *testing.T) {
	backend := startBackend(t, echoConn)
	tp := startProxy(t, testConfig(backendRoute("/ws", backend.wsURL("/"))), false)
	c := tp.mustDial(t, "/ws")

	const n = 10000
	typeOf := func(i int) int {
		if i%3 == 0 {
			return websocket.BinaryMessage
		}
		return websocket.TextMessage
	}
	sendErr := make(chan error, 1)
	go func() {
		for i := range n {
			body := []byte(fmt.Sprintf("%08d", i))
			if err := c.WriteMessage(typeOf(i), body); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	c.SetReadDeadline(time.Now().Add(4 * waitLimit))
	for i := range n {
		mt, body, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := fmt.Sprintf("%08d", i); string(body) != want || mt != typeOf(i) {
			t.Fatalf("message %d: got type %d %q, want type %d %q", i, mt, body, typeOf(i), want)
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
}

func TestApplicationPingIsData(t *testing.T) {
	// The log-tail server of the original design sends a text "ping" as a
	// heartbeat: it is a message like any other, not a control frame.
	got := make(chan string, 1)
	backend := startBackend(t, func(c *websocket.Conn, _ *http.Request) {
		if err := c.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
			t.Errorf("backend write: %v", err)
			return
		}
		mt, data, err := c.ReadMessage()
		if err != nil || mt != websocket.TextMessage {
			t.Errorf("backend read: type %d, %v", mt, err)
			return
		}
		got <- string(data)
	})
	tp := startProxy(t, testConfig(backendRoute("/logs/*file", backend.wsURL("/{file}"))), false)
	c := tp.mustDial(t, "/logs/app.log")
	c.SetReadDeadline(time.Now().Add(waitLimit))
	mt, data, err := c.ReadMessage()
	if err != nil || mt != websocket.TextMessage || string(data) != "ping" {
		t.Fatalf("client got type %d %q (%v), want text \"ping\"", mt, data, err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("pong")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "pong" {
		t.Errorf("backend got %q, want \"pong\"", s)
	}
}

func TestMessageTooBig(t *testing.T) {
	t.Run("from the client", func(t *testing.T) {
		got := make(chan *websocket.CloseError, 1)
		backend := closingBackend(t, got)
		cfg := testConfig(backendRoute("/ws", backend.wsURL("/")))
		cfg.Limits.MaxMessageBytes = 1024
		tp := startProxy(t, cfg, false)
		c := tp.mustDial(t, "/ws")
		if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 2048)); err != nil {
			t.Fatal(err)
		}
		if ce := readClose(t, c); ce.Code != websocket.CloseMessageTooBig {
			t.Errorf("sender got close %d, want 1009", ce.Code)
		}
		ce := <-got
		if ce == nil || ce.Code != closeClientLost || ce.Text != "client message too big" {
			t.Errorf("backend got close %v, want %d %q", ce, closeClientLost, "client message too big")
		}
	})
	t.Run("from the backend", func(t *testing.T) {
		senderClose := make(chan *websocket.CloseError, 1)
		backend := startBackend(t, func(c *websocket.Conn, _ *http.Request) {
			if err := c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 4096)); err != nil {
				t.Errorf("backend write: %v", err)
			}
			_, _, err := c.ReadMessage()
			ce, _ := err.(*websocket.CloseError)
			senderClose <- ce
		})
		cfg := testConfig(backendRoute("/ws", backend.wsURL("/")))
		cfg.Limits.MaxMessageBytes = 1024
		tp := startProxy(t, cfg, false)
		c := tp.mustDial(t, "/ws")
		if ce := readClose(t, c); ce.Code != closeBackendLost || ce.Text != "backend message too big" {
			t.Errorf("client got close %d %q, want %d %q", ce.Code, ce.Text, closeBackendLost, "backend message too big")
		}
		if ce := <-senderClose; ce == nil || ce.Code != websocket.CloseMessageTooBig {
			t.Errorf("backend got close %v, want 1009", ce)
		}
	})
}

func TestLegDiesWithoutClose(t *testing.T) {
	t.Run("backend", func(t *testing.T) {
		backend := startBackend(t, func(c *websocket.Conn, _ *http.Request) {
			c.NetConn().Close() // no close frame
		})
		tp := startProxy(t, testConfig(backendRoute("/ws", backend.wsURL("/"))), false)
		c := tp.mustDial(t, "/ws")
		if ce := readClose(t, c); ce.Code != closeBackendLost || ce.Text != "backend connection lost" {
			t.Errorf("client got close %d %q, want %d %q", ce.Code, ce.Text, closeBackendLost, "backend connection lost")
		}
	})
	t.Run("client", func(t *testing.T) {
		got := make(chan *websocket.CloseError, 1)
		backend := closingBackend(t, got)
		tp := startProxy(t, testConfig(backendRoute("/ws", backend.wsURL("/"))), false)
		c := tp.mustDial(t, "/ws")
		c.NetConn().Close()
		ce := <-got
		if ce == nil || ce.Code != closeClientLost || ce.Text != "client connection lost" {
			t.Errorf("backend got close %v, want %d %q", ce, closeClientLost, "client connection lost")
		}
	})
	t.Run("client mid-message", func(t *testing.T) {
		// A message cut off by the client's death must not reach the
		// backend as if it were complete.
		got := make(chan string, 4)
		backend := startBackend(t, func(c *websocket.Conn, _ *http.Request) {
			for {
				_, data, err := c.ReadMessage()
				if err != nil {
					got <- "error: " + err.Error()
					return
				}
				got <- "message of " + strconv.Itoa(len(data))
			}
		})
		cfg := testConfig(backendRoute("/ws", backend.wsURL("/")))
		cfg.Limits.MaxMessageBytes = 8 << 20
		tp := startProxy(t, cfg, false)
		c := tp.mustDial(t, "/ws")
		w, err := c.NextWriter(websocket.BinaryMessage)
		if err != nil {
			t.Fatal(err)
		}
		// Three frames' worth, then death before the final frame.
		chunk := make([]byte, 64<<10)
		for range 3 {
			if _, err := w.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		c.NetConn().Close()
		if s := <-got; s != "error: websocket: close 1001 (going away): client connection lost" {
			t.Errorf("backend saw %q, want the close and no message", s)
		}
	})
}
