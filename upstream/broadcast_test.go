package upstream

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/wstest"
)

// testQueued is a message of n bytes, framed as the handler frames them.
func testQueued(t *testing.T, n int) queued {
	t.Helper()
	msg, err := prepareQueued(websocket.BinaryMessage, make([]byte, n))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// TestSendQueueAccounting: a queue counts each message's bytes (plus its
// overhead), refuses what would take it past its limit unless it is
// empty, and frees the bytes as the writer takes messages, in order.
func TestSendQueueAccounting(t *testing.T) {
	const limit = 64 << 10
	q := newSendQueue(limit)
	big := testQueued(t, 1<<20) // over the limit: an empty queue takes it
	if res, _ := q.offer(big); res != offerQueued {
		t.Fatalf("an empty queue refused a 1 MiB message: %v", res)
	}
	small := testQueued(t, 10)
	res, changed := q.offer(small)
	if res != offerFull || changed == nil {
		t.Fatalf("a queue holding 1 MiB of 64 KiB took more: %v", res)
	}
	if got, ok := q.pop(); !ok || got.prepared != big.prepared {
		t.Fatal("pop did not give back the queued message")
	}
	select {
	case <-changed:
	default:
		t.Error("taking a message did not wake the waiting publisher")
	}
	if q.bytes != 0 {
		t.Errorf("an empty queue counts %d bytes", q.bytes)
	}

	// Fill it exactly: limit / cost messages fit, the next does not.
	msg := testQueued(t, 1024)
	fits := limit / int(msg.cost)
	var sent []*websocket.PreparedMessage
	for i := range fits {
		m := testQueued(t, 1024)
		if res, _ := q.offer(m); res != offerQueued {
			t.Fatalf("message %d of %d refused with %d bytes queued", i, fits, q.bytes)
		}
		sent = append(sent, m.prepared)
	}
	if res, _ := q.offer(msg); res != offerFull {
		t.Errorf("a queue with %d of %d bytes took %d more", q.bytes, limit, msg.cost)
	}
	if want := int64(fits) * msg.cost; q.bytes != want {
		t.Errorf("queued bytes: got %d, want %d", q.bytes, want)
	}
	for i, want := range sent {
		if got, ok := q.pop(); !ok || got.prepared != want {
			t.Fatalf("pop %d: not the message queued %d-th", i, i)
		}
	}
	if _, ok := q.pop(); ok || q.bytes != 0 {
		t.Errorf("a drained queue: pop gave a message, or %d bytes counted", q.bytes)
	}
}

// TestSendQueueFastPathAllocatesNothing: queuing a message a member has
// room for, and its writer taking it, cost no allocation per member.
func TestSendQueueFastPathAllocatesNothing(t *testing.T) {
	q := newSendQueue(64 << 10)
	msg := testQueued(t, 1024)
	allocs := testing.AllocsPerRun(1000, func() {
		for range 10 {
			q.offer(msg)
		}
		for range 10 {
			q.pop()
		}
		<-q.ready
	})
	if allocs != 0 {
		t.Errorf("%v allocations per 10 messages queued and taken, want 0", allocs)
	}
}

// TestSendQueueOrderAcrossCompaction: a queue kept part full for many
// rounds (so it reuses the front of its buffer) gives its messages back
// in the order they came, and keeps few slots once empty.
func TestSendQueueOrderAcrossCompaction(t *testing.T) {
	q := newSendQueue(1 << 20)
	var want []*websocket.PreparedMessage
	next := 0
	for round := range 1000 {
		for range 1 + round%7 {
			m := testQueued(t, 0)
			if res, _ := q.offer(m); res != offerQueued {
				t.Fatalf("round %d: refused", round)
			}
			want = append(want, m.prepared)
		}
		for range round % 5 {
			got, ok := q.pop()
			if !ok {
				break
			}
			if got.prepared != want[next] {
				t.Fatalf("round %d: message %d out of order", round, next)
			}
			next++
		}
	}
	for ; next < len(want); next++ {
		if got, ok := q.pop(); !ok || got.prepared != want[next] {
			t.Fatalf("draining: message %d missing or out of order", next)
		}
	}
	if cap(q.buf) > keptQueueSlots {
		t.Errorf("a drained queue keeps %d slots, want at most %d", cap(q.buf), keptQueueSlots)
	}
}

// TestSendQueueStalled: a publisher's wait judges a queue stalled only if
// nothing has left it since that wait began; a stalled or ended queue
// drops its messages, wakes its waiting publishers when told, and takes
// nothing more.
func TestSendQueueStalled(t *testing.T) {
	q := newSendQueue(64 << 10)
	msg := testQueued(t, 40<<10)
	q.offer(msg)
	_, first := q.offer(msg)
	q.pop() // progress since the first wait
	q.offer(msg)
	if _, ok := q.stalled(first); ok {
		t.Fatal("stalled although a message left since the wait began")
	}
	_, second := q.offer(msg)
	ended, ok := q.stalled(second)
	if !ok || ended.dropped != msg.cost {
		t.Fatalf("stalled: %v, dropped %d bytes; want true, %d", ok, ended.dropped, msg.cost)
	}
	select {
	case <-second:
		t.Fatal("waiting publishers woke before wake")
	default:
	}
	ended.wake()
	select {
	case <-second:
	default:
		t.Fatal("wake did not wake the waiting publishers")
	}
	if res, _ := q.offer(msg); res != offerGone {
		t.Errorf("an ended queue: offer gave %v, want offerGone", res)
	}
	if _, ok := q.pop(); ok {
		t.Error("an ended queue gave a message")
	}
	if _, ok := q.end(); ok {
		t.Error("a queue ended twice")
	}
	if _, ok := q.stalled(nil); ok {
		t.Error("an ended queue stalled")
	}
}

func TestBroadcastConfigValidate(t *testing.T) {
	size := func(s string) *conftypes.Size {
		z, err := conftypes.ParseSize(s)
		if err != nil {
			t.Fatal(err)
		}
		return &z
	}
	n := func(v int) *int { return &v }
	cases := []struct {
		name  string
		cfg   Config
		paths []string // the fields in error, none when valid
	}{
		{"defaults", Config{Handler: "broadcast"}, nil},
		{"all set", Config{Handler: "broadcast", Broadcast: &BroadcastConfig{
			MemberQueue: size("64KiB"), EchoSelf: new(bool), MaxRooms: n(1), MaxMembers: n(1)}}, nil},
		{"largest queue", Config{Handler: "broadcast", Broadcast: &BroadcastConfig{MemberQueue: size("64MiB")}}, nil},
		{"queue too small", Config{Handler: "broadcast", Broadcast: &BroadcastConfig{MemberQueue: size("1KiB")}},
			[]string{"broadcast.member_queue"}},
		{"queue too large", Config{Handler: "broadcast", Broadcast: &BroadcastConfig{MemberQueue: size("65MiB")}},
			[]string{"broadcast.member_queue"}},
		{"no rooms or members", Config{Handler: "broadcast", Broadcast: &BroadcastConfig{MaxRooms: n(0), MaxMembers: n(-1)}},
			[]string{"broadcast.max_rooms", "broadcast.max_members"}},
		{"on another handler", Config{Handler: "echo", Broadcast: &BroadcastConfig{}}, []string{"broadcast"}},
		{"on a page", Config{Handler: "demo", Broadcast: &BroadcastConfig{}}, []string{"broadcast"}},
		{"on backends", Config{Backend: "ws://127.0.0.1:1/", Broadcast: &BroadcastConfig{}}, []string{"broadcast"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var paths []string
			for _, err := range conftypes.Flatten(tc.cfg.Validate()) {
				var fe *conftypes.FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("not a FieldError: %v", err)
				}
				paths = append(paths, fe.Path)
			}
			if !slices.Equal(paths, tc.paths) {
				t.Errorf("errors at %q, want %q", paths, tc.paths)
			}
		})
	}
}

// TestBroadcastSettings: what a route leaves out takes the defaults.
func TestBroadcastSettings(t *testing.T) {
	want := broadcastSettings{memberQueue: 1 << 20, echoSelf: true, maxRooms: 10000, maxMembers: 10000}
	for _, cfg := range []*BroadcastConfig{nil, {}} {
		if got := cfg.settings(); got != want {
			t.Errorf("settings of %+v: got %+v, want %+v", cfg, got, want)
		}
	}
	off, one := false, 1
	got := (&BroadcastConfig{EchoSelf: &off, MaxMembers: &one}).settings()
	if got.echoSelf || got.maxMembers != 1 || got.maxRooms != DefaultBroadcastMaxRooms {
		t.Errorf("settings with echo_self off and one member: %+v", got)
	}
}

func roomParams(name string) httprouter.Params {
	return httprouter.Params{{Key: "room", Value: name}}
}

// TestBroadcastLimitsAndAbandon: Open refuses a room over max_rooms and a
// member over max_members with a RoomLimitError, and Abandon gives the
// place back, as does the end of the room's last reservation for the
// room itself.
func TestBroadcastLimitsAndAbandon(t *testing.T) {
	one := 1
	b := newBroadcast(Config{Handler: "broadcast", Broadcast: &BroadcastConfig{MaxRooms: &one, MaxMembers: &one}}, testEnv())
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	lobby, err := b.Open(r, roomParams("lobby"))
	if err != nil {
		t.Fatal(err)
	}
	var rl *RoomLimitError
	if _, err := b.Open(r, roomParams("lobby")); !errors.As(err, &rl) || rl.Limit != LimitBroadcastMembers {
		t.Errorf("a second member of a room of one: %v, want a %s RoomLimitError", err, LimitBroadcastMembers)
	}
	if _, err := b.Open(r, roomParams("kitchen")); !errors.As(err, &rl) || rl.Limit != LimitBroadcastRooms {
		t.Errorf("a second room of a route of one: %v, want a %s RoomLimitError", err, LimitBroadcastRooms)
	}
	lobby.Abandon()
	if len(b.rooms) != 0 {
		t.Errorf("after Abandon, %d rooms remain", len(b.rooms))
	}
	kitchen, err := b.Open(r, roomParams("kitchen"))
	if err != nil {
		t.Fatalf("once the place was given back: %v", err)
	}
	kitchen.Abandon()
}

// fakeBus is a RoomBus that records what the handler asks of it.
type fakeBus struct {
	joinErr error
	hold    chan struct{}  // if set, Join waits for it to close
	links   chan *fakeLink // every link Join made
}

func newFakeBus() *fakeBus { return &fakeBus{links: make(chan *fakeLink, 16)} }

func (f *fakeBus) Join(ctx context.Context, room string, deliver func(RoomMessage)) (RoomLink, error) {
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
		}
	}
	if f.joinErr != nil {
		return nil, f.joinErr
	}
	l := &fakeLink{room: room, deliver: deliver, published: make(chan RoomMessage, 64), left: make(chan struct{})}
	f.links <- l
	return l, nil
}

type fakeLink struct {
	room      string
	deliver   func(RoomMessage)
	published chan RoomMessage
	leaves    atomic.Int32
	left      chan struct{}
}

func (l *fakeLink) Publish(msg RoomMessage) {
	msg.Data = bytes.Clone(msg.Data) // Publish must not keep it
	l.published <- msg
}

func (l *fakeLink) Leave() {
	if l.leaves.Add(1) == 1 {
		close(l.left)
	}
}

// nextLink returns the link Join made, which must be there already.
func (f *fakeBus) nextLink(t *testing.T) *fakeLink {
	t.Helper()
	select {
	case l := <-f.links:
		return l
	default:
		t.Fatal("no room was linked")
		return nil
	}
}

func (f *fakeBus) noLink(t *testing.T) {
	t.Helper()
	select {
	case l := <-f.links:
		t.Fatalf("room %q linked again", l.room)
	default:
	}
}

// serveBroadcast serves b on loopback as the proxy does: Open, then the
// upgrade (Abandon if it fails), then Serve; a refusal is a 503. The room
// is the request's path.
func serveBroadcast(t *testing.T, b *broadcast) string {
	t.Helper()
	var up websocket.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session, err := b.Open(r, roomParams(strings.TrimPrefix(r.URL.Path, "/")))
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			session.Abandon()
			return
		}
		defer conn.Close()
		session.Serve(conn)
	}))
	t.Cleanup(srv.Close)
	return "ws://" + srv.Listener.Addr().String()
}

// roomClient is a member's client; it reads as the test asks.
type roomClient struct {
	t    *testing.T
	conn *websocket.Conn
}

func dialRoom(t *testing.T, base, room string) *roomClient {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitLimit}
	conn, resp, err := d.Dial(base+"/"+room, nil)
	if err != nil {
		t.Fatalf("dial room %s: %v (%v)", room, err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	return &roomClient{t: t, conn: conn}
}

func (c *roomClient) send(msg string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		c.t.Fatal(err)
	}
}

// expect reads the next message and checks it is want, of type mt.
func (c *roomClient) expect(mt int, want string) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(waitLimit))
	got, data, err := c.conn.ReadMessage()
	if err != nil || got != mt || string(data) != want {
		c.t.Fatalf("got type %d %q (%v), want type %d %q", got, data, err, mt, want)
	}
}

// joined sends hello and waits for it back: the member is in the room.
func (c *roomClient) joined(hello string) {
	c.t.Helper()
	c.send(hello)
	c.expect(websocket.TextMessage, hello)
}

func (l *fakeLink) expectPublished(t *testing.T, want string) RoomMessage {
	t.Helper()
	select {
	case msg := <-l.published:
		if string(msg.Data) != want || msg.Type != websocket.TextMessage {
			t.Fatalf("published type %d %q, want a text %q", msg.Type, msg.Data, want)
		}
		return msg
	case <-time.After(waitLimit):
		t.Fatalf("%q was not published", want)
		return RoomMessage{}
	}
}

func (l *fakeLink) expectLeft(t *testing.T) {
	t.Helper()
	select {
	case <-l.left:
	case <-time.After(waitLimit):
		t.Fatalf("room %q never left the bus", l.room)
	}
}

// TestBroadcastRoomBus: a room is linked to the bus before its first
// member's 101, once; each local message is published with its member's
// id; what the bus delivers reaches every member; the room leaves the
// bus with its last member, and a room made anew has a link of its own.
func TestBroadcastRoomBus(t *testing.T) {
	bus := newFakeBus()
	env := testEnv()
	env.Rooms = bus
	base := serveBroadcast(t, newBroadcast(Config{Handler: "broadcast"}, env))

	alice := dialRoom(t, base, "lobby")
	link := bus.nextLink(t) // Join returned before the 101
	if link.room != "room=lobby" {
		t.Errorf("linked room %q, want room=lobby", link.room)
	}
	alice.joined("hello from alice")
	fromAlice := link.expectPublished(t, "hello from alice")
	bob := dialRoom(t, base, "lobby")
	bus.noLink(t)
	bob.joined("hello from bob")
	fromBob := link.expectPublished(t, "hello from bob")
	alice.expect(websocket.TextMessage, "hello from bob")
	if fromAlice.Publisher == fromBob.Publisher {
		t.Errorf("alice and bob published as the same publisher %d", fromAlice.Publisher)
	}

	link.deliver(RoomMessage{Publisher: 99, Type: websocket.BinaryMessage, Data: []byte("from afar")})
	alice.expect(websocket.BinaryMessage, "from afar")
	bob.expect(websocket.BinaryMessage, "from afar")

	alice.conn.Close()
	select {
	case <-link.left:
		t.Fatal("the room left the bus with a member still in it")
	default:
	}
	bob.conn.Close()
	link.expectLeft(t)

	carol := dialRoom(t, base, "lobby")
	again := bus.nextLink(t)
	carol.conn.Close()
	again.expectLeft(t)
	if n := link.leaves.Load(); n != 1 {
		t.Errorf("the first link was left %d times, want once", n)
	}
}

// TestBroadcastRoomBusJoinFails: a room the bus cannot link is served
// locally, and the failure is logged.
func TestBroadcastRoomBusJoinFails(t *testing.T) {
	bus := newFakeBus()
	bus.joinErr = errors.New("bus closed")
	env := testEnv()
	env.Rooms = bus
	var logs wstest.LogBuffer
	env.Log = slog.New(slog.NewTextHandler(&logs, nil))
	base := serveBroadcast(t, newBroadcast(Config{Handler: "broadcast"}, env))
	alice := dialRoom(t, base, "lobby")
	alice.joined("hello from alice")
	bob := dialRoom(t, base, "lobby")
	bob.joined("hello from bob")
	alice.expect(websocket.TextMessage, "hello from bob")
	if !strings.Contains(logs.String(), "serving it locally") || !strings.Contains(logs.String(), "bus closed") {
		t.Errorf("the failed Join was not logged: %q", logs.String())
	}
}

// TestBroadcastJoinersWaitForLink: members of a room being linked get
// their 101 only once Join has returned, and the room is linked once.
func TestBroadcastJoinersWaitForLink(t *testing.T) {
	bus := newFakeBus()
	bus.hold = make(chan struct{})
	env := testEnv()
	env.Rooms = bus
	b := newBroadcast(Config{Handler: "broadcast"}, env)
	base := serveBroadcast(t, b)
	var linked atomic.Bool
	dialed := make(chan *roomClient, 2)
	for range 2 {
		go func() {
			d := websocket.Dialer{HandshakeTimeout: waitLimit}
			conn, _, err := d.Dial(base+"/lobby", nil)
			if err != nil {
				t.Errorf("dial: %v", err)
				dialed <- nil
				return
			}
			if !linked.Load() {
				t.Error("a member got its 101 before the room was linked")
			}
			dialed <- &roomClient{t: t, conn: conn}
		}()
	}
	waitSlots(t, b, "room=lobby", 2)
	linked.Store(true)
	close(bus.hold)
	var clients []*roomClient
	for range 2 {
		select {
		case c := <-dialed:
			if c == nil {
				t.FailNow()
			}
			clients = append(clients, c)
		case <-time.After(waitLimit):
			t.Fatal("a member was never admitted")
		}
	}
	link := bus.nextLink(t)
	bus.noLink(t)
	for _, c := range clients {
		c.conn.Close()
	}
	link.expectLeft(t)
}

// waitSlots waits until the room named key has n places taken.
func waitSlots(t *testing.T, b *broadcast, key string, n int) {
	t.Helper()
	wstest.Eventually(t, waitLimit, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		rm := b.rooms[key]
		return rm != nil && rm.slots == n
	})
}
