package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestEchoHandler(t *testing.T) {
	tp := startProxy(t, testConfig(handlerRoute("/echo", "echo")), false)
	c := tp.mustDial(t, "/echo")
	for _, m := range []struct {
		mt   int
		body string
	}{{websocket.TextMessage, "hello"}, {websocket.BinaryMessage, "\x00\x01"}} {
		if err := c.WriteMessage(m.mt, []byte(m.body)); err != nil {
			t.Fatal(err)
		}
		mt, got, err := c.ReadMessage()
		if err != nil || mt != m.mt || string(got) != m.body {
			t.Errorf("echo: got type %d %q (%v), want type %d %q", mt, got, err, m.mt, m.body)
		}
	}

	resp, err := http.Get(tp.httpURL() + "/echo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "websocket" {
		t.Errorf("plain request on a handler route: got %d Upgrade=%q, want 426 Upgrade=websocket", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
}

// member is a broadcast client that collects what it receives.
type member struct {
	conn     *websocket.Conn
	received chan string
}

func joinRoom(t *testing.T, tp *testProxy, path, name string) *member {
	t.Helper()
	m := &member{conn: tp.mustDial(t, path), received: make(chan string, 100000)}
	go func() {
		defer close(m.received)
		for {
			_, data, err := m.conn.ReadMessage()
			if err != nil {
				return
			}
			m.received <- string(data)
		}
	}()
	// The sender is a member too: its own hello coming back proves it has
	// joined the room, so nothing sent after this can miss it.
	hello := "hello from " + name
	if err := m.conn.WriteMessage(websocket.TextMessage, []byte(hello)); err != nil {
		t.Fatal(err)
	}
	m.waitFor(t, hello)
	return m
}

// waitFor reads until want arrives and returns what came before it.
func (m *member) waitFor(t *testing.T, want string) []string {
	t.Helper()
	var before []string
	timeout := time.After(waitLimit)
	for {
		select {
		case got, ok := <-m.received:
			if !ok {
				t.Fatalf("connection ended before %q", want)
			}
			if got == want {
				return before
			}
			before = append(before, got)
		case <-timeout:
			t.Fatalf("%q never arrived", want)
		}
	}
}

func TestBroadcastToRoomMembers(t *testing.T) {
	tp := startProxy(t, testConfig(handlerRoute("/chat/:room", "broadcast")), false)
	alice := joinRoom(t, tp, "/chat/lobby", "alice")
	bob := joinRoom(t, tp, "/chat/lobby", "bob")
	carol := joinRoom(t, tp, "/chat/lobby", "carol")
	dave := joinRoom(t, tp, "/chat/kitchen", "dave")

	if err := alice.conn.WriteMessage(websocket.TextMessage, []byte("hi lobby")); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*member{alice, bob, carol} {
		m.waitFor(t, "hi lobby")
	}
	// dave is in another room: his own later message arrives with nothing
	// from the lobby before it.
	if err := dave.conn.WriteMessage(websocket.TextMessage, []byte("hi kitchen")); err != nil {
		t.Fatal(err)
	}
	if leaked := dave.waitFor(t, "hi kitchen"); len(leaked) != 0 {
		t.Errorf("kitchen member got lobby messages: %q", leaked)
	}
}

func TestSlowBroadcastMemberClosedWithoutStallingRoom(t *testing.T) {
	tp := startProxy(t, testConfig(handlerRoute("/chat/:room", "broadcast")), false)
	fast1 := joinRoom(t, tp, "/chat/r", "fast1")
	fast2 := joinRoom(t, tp, "/chat/r", "fast2")

	// The slow member reads nothing until told to. A small receive
	// buffer makes it fall behind after a few messages.
	d := websocket.Dialer{NetDialContext: smallReceiveBuffer}
	slowConn, _, err := d.Dial(tp.plainURL+"/chat/r", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slowConn.Close()
	slowConn.WriteMessage(websocket.TextMessage, []byte("hello from slow"))
	fast1.waitFor(t, "hello from slow") // it has joined
	fast2.waitFor(t, "hello from slow")

	evicted := make(chan map[string]string, 1)
	go func() { evicted <- tp.log.waitFor(t, "broadcast member too slow, closing", nil) }()
	// Each message is sent once both fast members have the previous one,
	// so only the slow member can fall behind. The room keeps delivering
	// to the fast members, in order, while the slow one fills up.
	body := strings.Repeat("x", 16<<10)
	for i := 0; ; i++ {
		select {
		case attrs := <-evicted:
			if attrs["room"] != "room=r" {
				t.Errorf("eviction log names room %q, want room=r", attrs["room"])
			}
		default:
			if i == 20000 {
				t.Fatal("the slow member was never closed")
			}
			msg := fmt.Sprintf("%06d %s", i, body)
			if err := fast1.conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			for _, m := range []*member{fast1, fast2} {
				if before := m.waitFor(t, msg); len(before) != 0 {
					t.Fatalf("fast member got %d unexpected messages before message %d", len(before), i)
				}
			}
			continue
		}
		break
	}
	// Now the slow member reads: what was queued, then 1008.
	if ce := readClose(t, slowConn); ce.Code != websocket.ClosePolicyViolation {
		t.Errorf("slow member got close %d, want 1008", ce.Code)
	}
}

// smallReceiveBuffer dials with a 4 KiB receive buffer.
func smallReceiveBuffer(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return d.DialContext(ctx, network, addr)
}

func TestDemoPage(t *testing.T) {
	tp := startProxy(t, testConfig(handlerRoute("/", "demo"), handlerRoute("/echo", "echo")), false)
	resp, err := http.Get(tp.httpURL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("demo page: got %s %q, want 200 text/html", resp.Status, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Get(tp.httpURL() + "/missing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unrouted path: got %d, want 404", resp.StatusCode)
	}
}

// TestBroadcastBoundedWithoutMessageLimit: with max_message_bytes: 0 (no
// limit), a broadcast still holds at most 1 MiB per message: a bigger one
// closes its sender with 1009 instead of being buffered whole.
func TestBroadcastBoundedWithoutMessageLimit(t *testing.T) {
	cfg := testConfig(handlerRoute("/room/:name", "broadcast"))
	cfg.Limits.MaxMessageBytes = 0
	tp := startProxy(t, cfg, false)
	c := tp.mustDial(t, "/room/big")
	ok := make([]byte, 100<<10)
	c.SetWriteDeadline(time.Now().Add(waitLimit))
	if err := c.WriteMessage(websocket.BinaryMessage, ok); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, got, err := c.ReadMessage(); err != nil || len(got) != len(ok) {
		t.Fatalf("a 100 KiB broadcast: %d bytes, %v", len(got), err)
	}
	if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 2<<20)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Errorf("a 2 MiB broadcast: %v, want close 1009", err)
	}
}
