package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/wstest"
	"github.com/wsedge/wsedge/routes"
	"github.com/wsedge/wsedge/upstream"
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

// dialMember connects a member to the room at path and collects what
// it receives until its connection ends. It is in the room once the
// handshake is done (the built-in admits it before its 101).
func dialMember(t *testing.T, tp *testProxy, path string) *member {
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
	return m
}

func joinRoom(t *testing.T, tp *testProxy, path, name string) *member {
	t.Helper()
	m := dialMember(t, tp, path)
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

// evictedLine is the log line of a broadcast member evicted for being
// too slow.
const evictedLine = "broadcast member too slow, closing"

// broadcastRoute is a broadcast route at path with the broadcast block bc.
func broadcastRoute(path string, bc upstream.BroadcastConfig) routes.Route {
	r := handlerRoute(path, "broadcast")
	r.Broadcast = &bc
	return r
}

// size is a pointer to n bytes, for a broadcast block.
func size(n int64) *conftypes.Size {
	z := conftypes.Size(n)
	return &z
}

// count is how many log lines with msg there are so far.
func (l *logRecorder) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if r.Message == msg {
			n++
		}
	}
	return n
}

// joinStalled adds to the room at path a member that never reads, with
// a small receive buffer so that it falls behind at once, and returns
// its connection once the members given have its hello.
func joinStalled(t *testing.T, tp *testProxy, path string, members []*member) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{NetDialContext: smallReceiveBuffer, HandshakeTimeout: waitLimit}
	c, _, err := d.Dial(tp.plainURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	hello := "hello from stalled " + c.LocalAddr().String()
	if err := c.WriteMessage(websocket.TextMessage, []byte(hello)); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		m.waitFor(t, hello)
	}
	return c
}

// expectEvicted reads what an evicted member was sent until its
// connection ends: with 1008, or dropped, which gorilla reports as 1006
// (its writer's write timed out in the middle of a frame, after which
// no close frame can follow).
func expectEvicted(t *testing.T, c *websocket.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		var ne net.Error
		switch {
		case errors.As(err, &ce) && ce.Code != websocket.ClosePolicyViolation && ce.Code != websocket.CloseAbnormalClosure:
			t.Errorf("evicted member got close %d, want 1008 or none", ce.Code)
		case errors.As(err, &ne) && ne.Timeout():
			t.Errorf("evicted member still connected after %v", waitLimit)
		}
		return
	}
}

// burstMessage is message i of a burst: 4 KiB, numbered. A burst of
// 3,000 is 12 MiB: more than the stalled member's queue, the frames its
// writer holds (16 KiB) and the socket buffers between it and its client
// (a few MiB on loopback) can take, so it stalls the room.
func burstMessage(i int) string {
	head := fmt.Sprintf("burst %04d ", i)
	return head + strings.Repeat("x", 4096-len(head))
}

// expectBurst checks that m received the n messages of a burst, whole
// and in order (other messages, hellos, may come between).
func (m *member) expectBurst(t *testing.T, name string, n int) {
	t.Helper()
	timeout := time.After(waitLimit)
	for i := 0; i < n; {
		select {
		case got, ok := <-m.received:
			if !ok {
				t.Fatalf("%s: connection ended after %d burst messages of %d", name, i, n)
			}
			if !strings.HasPrefix(got, "burst ") {
				continue
			}
			if want := burstMessage(i); got != want {
				t.Fatalf("%s: burst message %d: got %.16q… (%d bytes), want %.16q… (%d bytes)", name, i, got, len(got), want, len(want))
			}
			i++
		case <-timeout:
			t.Fatalf("%s: %d burst messages of %d after %v", name, i, n, waitLimit)
		}
	}
}

// TestBroadcastBurstEvictsOnlyTheStalledMember (issue 12): a member
// bursting 3,000 messages into a room is slowed to the room's pace
// rather than getting its members closed: every member that reads gets
// every message, whole and in order, and the one member that never
// reads is the only one evicted, logged by its address. The publisher
// is still a member afterwards.
func TestBroadcastBurstEvictsOnlyTheStalledMember(t *testing.T) {
	cfg := testConfig(broadcastRoute("/chat/:room", upstream.BroadcastConfig{MemberQueue: size(64 << 10)}))
	cfg.Limits.WriteTimeout = conftypes.Duration(2 * time.Second)
	tp := startProxy(t, cfg, false)
	publisher := joinRoom(t, tp, "/chat/burst", "publisher")
	healthy := []*member{publisher}
	for i := range 4 {
		healthy = append(healthy, joinRoom(t, tp, "/chat/burst", fmt.Sprintf("reader %d", i)))
	}
	stalled := joinStalled(t, tp, "/chat/burst", healthy)

	const n = 3000
	publisher.conn.SetWriteDeadline(time.Now().Add(waitLimit))
	for i := range n {
		if err := publisher.conn.WriteMessage(websocket.TextMessage, []byte(burstMessage(i))); err != nil {
			t.Fatalf("sending burst message %d: %v", i, err)
		}
	}
	for i, m := range healthy {
		m.expectBurst(t, fmt.Sprintf("member %d", i), n)
	}
	// The burst could only end once the stalled member was out of the
	// room: its queue held the rest back until then.
	if got := tp.log.count(evictedLine); got != 1 {
		t.Fatalf("%d members evicted by the time the burst was through, want 1", got)
	}
	attrs := tp.log.waitFor(t, evictedLine, nil)
	if attrs["client"] != stalled.LocalAddr().String() || attrs["room"] != "room=burst" || attrs["queue_limit"] != "65536" {
		t.Errorf("eviction logged as %v, want client %s in room=burst, queue_limit 65536", attrs, stalled.LocalAddr())
	}
	publisher.conn.SetWriteDeadline(time.Time{})
	if err := publisher.conn.WriteMessage(websocket.TextMessage, []byte("after the burst")); err != nil {
		t.Fatalf("the publisher after its burst: %v", err)
	}
	for _, m := range healthy {
		m.waitFor(t, "after the burst")
	}
	expectEvicted(t, stalled)
}

// stamped is a message a member received, with how many members had
// been evicted when it arrived.
type stamped struct {
	msg       string
	evictions int
}

// TestBroadcastPublisherWaitsForStalledMember (issue 12): while a member
// that does not read has a full queue, the publisher's messages wait
// for it (its reads pause) instead of flowing past, until that member is
// evicted a write timeout later; then the room goes on with nothing lost
// or reordered, and the publisher is still a member.
func TestBroadcastPublisherWaitsForStalledMember(t *testing.T) {
	cfg := testConfig(broadcastRoute("/chat/:room", upstream.BroadcastConfig{MemberQueue: size(64 << 10)}))
	cfg.Limits.WriteTimeout = conftypes.Duration(2 * time.Second)
	tp := startProxy(t, cfg, false)
	publisher := joinRoom(t, tp, "/chat/r", "publisher")
	reader := dialJoined(t, tp, "/chat/r", "reader")
	// The reader notes, as each message arrives, whether the stalled
	// member had been evicted by then.
	got := make(chan stamped, 1024)
	go func() {
		defer close(got)
		for {
			_, data, err := reader.ReadMessage()
			if err != nil {
				return
			}
			got <- stamped{string(data), tp.log.count(evictedLine)}
		}
	}()
	stalled := joinStalled(t, tp, "/chat/r", []*member{publisher})

	// 6 MiB: far more than the stalled member's socket and queue take
	// before it stops taking anything.
	const n = 400
	body := strings.Repeat("x", 16<<10)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		publisher.conn.SetWriteDeadline(time.Now().Add(waitLimit))
		for i := range n {
			if err := publisher.conn.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("%06d %s", i, body))); err != nil {
				t.Errorf("sending message %d: %v", i, err)
				return
			}
		}
	}()
	beforeEviction := 0
	timeout := time.After(waitLimit)
	for i := 0; i < n; {
		select {
		case m, ok := <-got:
			if !ok {
				t.Fatalf("the reader's connection ended after %d messages of %d", i, n)
			}
			if strings.HasPrefix(m.msg, "hello") {
				continue
			}
			if want := fmt.Sprintf("%06d %s", i, body); m.msg != want {
				t.Fatalf("message %d: got %.16q… (%d bytes), want %.16q…", i, m.msg, len(m.msg), want)
			}
			if m.evictions == 0 {
				beforeEviction++
			}
			i++
		case <-timeout:
			t.Fatalf("the reader got %d messages of %d after %v", i, n, waitLimit)
		}
	}
	select {
	case <-sent:
	case <-time.After(waitLimit):
		t.Fatal("the publisher's sends never ended")
	}
	// Had the room let the publisher's messages flow past the full
	// queue, the reader would have had them all before the eviction.
	if beforeEviction == n {
		t.Errorf("the reader got all %d messages before the stalled member was evicted", n)
	}
	attrs := tp.log.waitFor(t, evictedLine, nil)
	if attrs["client"] != stalled.LocalAddr().String() || attrs["room"] != "room=r" {
		t.Errorf("eviction logged as %v, want client %s in room=r", attrs, stalled.LocalAddr())
	}
	if evicted := tp.log.count(evictedLine); evicted != 1 {
		t.Errorf("%d members evicted, want 1", evicted)
	}
	publisher.conn.SetWriteDeadline(time.Time{})
	if err := publisher.conn.WriteMessage(websocket.TextMessage, []byte("after")); err != nil {
		t.Fatalf("the publisher after the eviction: %v", err)
	}
	select {
	case m := <-got:
		if m.msg != "after" {
			t.Errorf("after the burst the reader got %.16q…, want %q", m.msg, "after")
		}
	case <-time.After(waitLimit):
		t.Error("the publisher's message after the eviction never arrived")
	}
	expectEvicted(t, stalled)
}

// countingMember is a room member whose messages are counted and
// dropped as they arrive, so that the test holds none of them.
type countingMember struct {
	conn *websocket.Conn
	n    atomic.Int64
	// reached is closed once n reaches the target given to join.
	reached chan struct{}
}

// dialJoined joins the room at path and returns the connection once its
// hello came back: it is in the room, and has read all it was sent.
func dialJoined(t *testing.T, tp *testProxy, path, name string) *websocket.Conn {
	t.Helper()
	c := tp.mustDial(t, path)
	hello := "hello from " + name
	if err := c.WriteMessage(websocket.TextMessage, []byte(hello)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("%s joining: %v", name, err)
		}
		if string(data) == hello {
			break
		}
	}
	c.SetReadDeadline(time.Time{})
	return c
}

// joinCounting joins the room at path and counts, from its own hello on,
// the messages it receives; reached closes at target.
func joinCounting(t *testing.T, tp *testProxy, path, name string, target int64) *countingMember {
	t.Helper()
	m := &countingMember{conn: dialJoined(t, tp, path, name), reached: make(chan struct{})}
	go func() {
		for {
			_, r, err := m.conn.NextReader()
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
			if m.n.Add(1) == target {
				close(m.reached)
			}
		}
	}()
	return m
}

// heapPeak samples the heap in use, after a collection, until stop is
// closed, and then sends the highest it saw.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	peak := make(chan uint64, 1)
	go func() {
		var highest uint64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				peak <- highest
				return
			case <-tick.C:
				highest = max(highest, heapInUse())
			}
		}
	}()
	return peak
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestBroadcastRoomMemoryBounded (issue 12): with members that never
// read and a publisher pushing many times member_queue, the proxy holds
// about member_queue of messages (shared by every queue), not what was
// pushed; the stalled members are evicted and the reading ones get
// everything.
func TestBroadcastRoomMemoryBounded(t *testing.T) {
	const queue = 256 << 10
	cfg := testConfig(broadcastRoute("/chat/:room", upstream.BroadcastConfig{MemberQueue: size(queue)}))
	cfg.Limits.WriteTimeout = conftypes.Duration(2 * time.Second)
	tp := startProxy(t, cfg, false)
	const (
		messages = 512
		msgSize  = 64 << 10 // 32 MiB in all
	)
	publisher := joinCounting(t, tp, "/chat/big", "publisher", messages)
	reader := joinCounting(t, tp, "/chat/big", "reader", messages)
	// The stalled members join once the counting ones have started
	// counting: their hellos are counted, hence the target.
	for range 4 {
		c, _, err := (&websocket.Dialer{NetDialContext: smallReceiveBuffer, HandshakeTimeout: waitLimit}).Dial(tp.plainURL+"/chat/big", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.WriteMessage(websocket.TextMessage, []byte("hello from stalled")); err != nil {
			t.Fatal(err)
		}
	}
	// Their hellos: the publisher also got the reader's.
	wstest.Eventually(t, waitLimit, func() bool { return reader.n.Load() == 4 && publisher.n.Load() == 5 })
	publisher.n.Store(0)
	reader.n.Store(0)

	base := heapInUse()
	stop := make(chan struct{})
	peak := heapPeak(stop)
	data := make([]byte, msgSize)
	for i := range messages {
		publisher.conn.SetWriteDeadline(time.Now().Add(waitLimit))
		if err := publisher.conn.WriteMessage(websocket.BinaryMessage, data); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	for _, m := range []*countingMember{publisher, reader} {
		select {
		case <-m.reached:
		case <-time.After(waitLimit):
			t.Fatalf("a reading member got %d messages of %d", m.n.Load(), messages)
		}
	}
	close(stop)
	var highest uint64
	select {
	case highest = <-peak:
	case <-time.After(waitLimit):
		t.Fatal("no heap sample")
	}
	if n := tp.log.count(evictedLine); n != 4 {
		t.Errorf("%d members evicted, want the 4 stalled ones", n)
	}
	// Eight queues' worth for the messages (each held once, with its
	// frame, however many queues hold it) and what is in flight, plus
	// the heap's own slack (spans kept part used), a few MiB here
	// whatever the queue: far below the 32 MiB pushed.
	const bound = 8*queue + 8<<20
	if highest > base && highest-base > bound {
		t.Errorf("the heap grew by %d bytes while %d were pushed through the room, want at most %d", highest-base, messages*msgSize, bound)
	}
}

// joinQuiet joins two members to the room at path on a route without
// echo_self, where no member's own hello could show it has joined: each
// is in the room once its handshake is done.
func joinQuiet(t *testing.T, tp *testProxy, path string) (a, b *member) {
	t.Helper()
	return dialMember(t, tp, path), dialMember(t, tp, path)
}

// TestBroadcastEchoSelfOff: with echo_self: false a member's messages
// reach the others and not itself.
func TestBroadcastEchoSelfOff(t *testing.T) {
	off := false
	tp := startProxy(t, testConfig(broadcastRoute("/chat/:room", upstream.BroadcastConfig{EchoSelf: &off})), false)
	alice, bob := joinQuiet(t, tp, "/chat/quiet")
	for _, msg := range []string{"hi", "bye"} {
		if err := alice.conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		bob.waitFor(t, msg)
	}
	// Had alice's messages come back to her, they would be in her queue
	// ahead of bob's answer.
	if err := bob.conn.WriteMessage(websocket.TextMessage, []byte("from bob")); err != nil {
		t.Fatal(err)
	}
	for _, got := range alice.waitFor(t, "from bob") {
		if got != "probe" {
			t.Errorf("alice got %q back", got)
		}
	}
}

// TestBroadcastRoomLimits: a member over broadcast.max_members, or a room
// over max_rooms, is refused with 503 and Retry-After before the upgrade,
// counted by limit, logged, leaving nothing behind; the place frees up
// when the members held leave.
func TestBroadcastRoomLimits(t *testing.T) {
	cases := []struct {
		limit   string
		held    []string // paths of the members opened first
		refused string
	}{
		{upstream.LimitBroadcastMembers, []string{"/chat/a", "/chat/a"}, "/chat/a"},
		{upstream.LimitBroadcastRooms, []string{"/chat/a"}, "/chat/b"},
	}
	for _, tc := range cases {
		t.Run(tc.limit, func(t *testing.T) {
			rooms, members := 1, 2
			tp := startProxy(t, testConfig(broadcastRoute("/chat/:room", upstream.BroadcastConfig{MaxRooms: &rooms, MaxMembers: &members})), false, withMetrics)
			var held []*websocket.Conn
			for _, path := range tc.held {
				held = append(held, tp.mustDial(t, path))
			}
			tp.waitConnections(t, len(held))
			before := takeLeftovers(t)
			for range 5 {
				_, resp, _ := tp.dial(t, tc.refused, nil)
				refusedWith(t, tc.refused, resp, http.StatusServiceUnavailable, "5")
			}
			before.expectNone(t)
			tp.log.waitFor(t, "request refused", func(a map[string]string) bool {
				return a["status"] == "503" && a["limit"] == tc.limit && a["path"] == tc.refused
			})
			if n := counterValue(t, tp.srv.metrics.limitRefusals, "/chat/:room", tc.limit); n != 5 {
				t.Errorf("wsedge_limit_refusals_total{limit=%q} = %v, want 5", tc.limit, n)
			}
			for _, c := range held {
				c.Close()
			}
			tp.waitConnections(t, 0)
			tp.mustDial(t, tc.refused)
		})
	}
}

// TestBroadcastAbandonedUpgradeFreesPlace: a handshake whose upgrade
// fails after Open reserved its place in the room (the client sent a
// frame before the 101, which gorilla refuses) gives the place back.
func TestBroadcastAbandonedUpgradeFreesPlace(t *testing.T) {
	one := 1
	tp := startProxy(t, testConfig(broadcastRoute("/chat/:room", upstream.BroadcastConfig{MaxMembers: &one})), false)
	c, err := net.Dial("tcp", strings.TrimPrefix(tp.plainURL, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const request = "GET /chat/a HTTP/1.1\r\nHost: relay.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	const earlyFrame = "\x81\x85\x00\x00\x00\x00hello" // masked with a zero key
	if _, err := io.WriteString(c, request+earlyFrame); err != nil {
		t.Fatal(err)
	}
	tp.log.waitFor(t, "client upgrade failed", func(a map[string]string) bool { return a["client"] == c.LocalAddr().String() })
	tp.mustDial(t, "/chat/a") // the only place
	_, resp, _ := tp.dial(t, "/chat/a", nil)
	refusedWith(t, "a second member of a room of one", resp, http.StatusServiceUnavailable, "5")
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

// TestBroadcastMemberGetsWhatFollowsItsHandshake: a member is in its room
// from before its 101, so a message another member sends the moment the
// new member's handshake is done reaches it. (When members were added
// only once the handler began serving them, a few in a hundred missed
// it.)
func TestBroadcastMemberGetsWhatFollowsItsHandshake(t *testing.T) {
	tp := startProxy(t, testConfig(handlerRoute("/chat/:room", "broadcast")), false)
	sender := joinRoom(t, tp, "/chat/r", "sender")
	for i := range 200 {
		c := tp.mustDial(t, "/chat/r")
		msg := fmt.Sprintf("right after handshake %d", i)
		if err := sender.conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(waitLimit))
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != msg {
			t.Fatalf("new member %d got %q, %v; want %q", i, got, err, msg)
		}
		sender.waitFor(t, msg)
		c.Close()
	}
}
