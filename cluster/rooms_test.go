package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/natstest"
	"github.com/wsedge/wsedge/internal/wstest"
	"github.com/wsedge/wsedge/upstream"
)

const waitLimit = 30 * time.Second

// openNode connects an instance named name to the server at url; it
// leaves at the test's end.
func openNode(t *testing.T, url, name string) *Node {
	t.Helper()
	n, err := Open(Config{NATS: []string{url}, Instance: name, ReconnectWait: conftypes.Duration(50 * time.Millisecond)}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	wstest.Eventually(t, waitLimit, n.conn.IsConnected)
	return n
}

// inbox collects what a link delivers.
type inbox chan upstream.RoomMessage

func (in inbox) deliver(m upstream.RoomMessage) { in <- m }

// next returns the next message, failing the test after waitLimit.
func (in inbox) next(t *testing.T) upstream.RoomMessage {
	t.Helper()
	select {
	case m := <-in:
		return m
	case <-time.After(waitLimit):
		t.Fatal("no message within", waitLimit)
		return upstream.RoomMessage{}
	}
}

func join(t *testing.T, r *Rooms, room string, in inbox) upstream.RoomLink {
	t.Helper()
	l, err := r.Join(context.Background(), room, in.deliver)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Leave)
	return l
}

// TestRoomMessagesCrossInstancesOnce: what one instance publishes reaches
// the other instance's link for the same route and room, whole, in
// order, with its type and publisher; never the publishing instance
// itself, another room, or the same room of another route.
func TestRoomMessagesCrossInstancesOnce(t *testing.T) {
	srv := natstest.Start(t)
	a, b := openNode(t, srv.URL(), "a"), openNode(t, srv.URL(), "b")
	atA, atB, otherRoom, otherRoute := make(inbox, 1000), make(inbox, 1000), make(inbox, 1000), make(inbox, 1000)
	pub := join(t, a.Rooms("chat"), "room=lobby", atA)
	join(t, b.Rooms("chat"), "room=lobby", atB)
	join(t, b.Rooms("chat"), "room=kitchen", otherRoom)
	join(t, b.Rooms("other.route/x"), "room=lobby", otherRoute)

	const n = 500
	for i := range n {
		pub.Publish(upstream.RoomMessage{Publisher: 7, Type: 1 + i%2, Data: fmt.Appendf(nil, "%04d", i)})
	}
	for i := range n {
		m := atB.next(t)
		if want := fmt.Sprintf("%04d", i); string(m.Data) != want || m.Type != 1+i%2 || m.Publisher != 7 {
			t.Fatalf("message %d: got %q type %d publisher %d, want %q type %d publisher 7", i, m.Data, m.Type, m.Publisher, want, 1+i%2)
		}
	}
	// A last message through b's links in the other rooms and back
	// to a proves everything a was sent has arrived by now.
	back := join(t, b.Rooms("chat"), "room=lobby", make(inbox, 1))
	back.Publish(upstream.RoomMessage{Publisher: 1, Type: 1, Data: []byte("end")})
	if m := atA.next(t); string(m.Data) != "end" {
		t.Errorf("the publishing instance got %q back, want only b's \"end\"", m.Data)
	}
	for name, in := range map[string]inbox{"another room": otherRoom, "another route's room": otherRoute, "the publishing instance": atA} {
		if len(in) != 0 {
			t.Errorf("%s got %d messages", name, len(in))
		}
	}
	if got := a.stats.published.Load(); got != n {
		t.Errorf("a published %d, want %d", got, n)
	}
}

// TestRoomsThroughNATSRestart: while NATS is down, publishing drops and
// counts; when it is back, subscriptions are restored without the rooms
// joining again, and messages cross again.
func TestRoomsThroughNATSRestart(t *testing.T) {
	srv := natstest.Start(t)
	a, b := openNode(t, srv.URL(), "a"), openNode(t, srv.URL(), "b")
	atB := make(inbox, 100)
	pub := join(t, a.Rooms("chat"), "room=lobby", make(inbox, 100))
	join(t, b.Rooms("chat"), "room=lobby", atB)

	srv.Stop()
	wstest.Eventually(t, waitLimit, func() bool { return !a.conn.IsConnected() })
	for range 10 {
		pub.Publish(upstream.RoomMessage{Type: 1, Data: []byte("lost")})
	}
	if got := a.stats.droppedDisconnected.Load(); got != 10 {
		t.Errorf("dropped while disconnected: %d, want 10", got)
	}
	srv.Restart()
	wstest.Eventually(t, waitLimit, func() bool { return a.conn.IsConnected() && b.conn.IsConnected() })
	// b's subscription is restored by its reconnect; a Flush round trip
	// through b's connection orders it before a's publish.
	if err := b.conn.Flush(); err != nil {
		t.Fatal(err)
	}
	pub.Publish(upstream.RoomMessage{Type: 1, Data: []byte("back")})
	if m := atB.next(t); string(m.Data) != "back" {
		t.Errorf("after the restart b got %q, want \"back\"", m.Data)
	}
	// The reconnect callback runs on the client's dispatcher, maybe
	// after the connection shows as up.
	wstest.EventuallyOr(t, waitLimit, func() bool { return a.stats.reconnects.Load() == 1 },
		func() string { return fmt.Sprintf("a reconnected %d times, want 1", a.stats.reconnects.Load()) })
}

// TestSubjectToken: names that are not subject-safe escape injectively
// into one token; long ones are hashed.
func TestSubjectToken(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "%",
		"room=lobby":         "room=lobby",
		"chat.example/r/:x":  "chat%2Eexample%2Fr%2F%3Ax",
		"a b*>%":             "a%20b%2A%3E%25",
		"name=caf\u00e9":     "name=caf%C3%A9",
		"room=a&other=b.c d": "room=a%26other=b%2Ec%20d",
	} {
		if got := subjectToken(in); got != want {
			t.Errorf("subjectToken(%q) = %q, want %q", in, got, want)
		}
	}
	long := subjectToken(string(make([]byte, 100))) // 300 bytes escaped
	if len(long) != len("sha256-")+64 {
		t.Errorf("a 300-byte token was not hashed: %q", long)
	}
}

// TestSlowRoomDropsAndCounts: a room whose local delivery is held up
// holds at most pendingBytes of other instances' messages; beyond that
// they are dropped and counted as a slow consumer's, not buffered.
func TestSlowRoomDropsAndCounts(t *testing.T) {
	srv := natstest.Start(t)
	a, b := openNode(t, srv.URL(), "a"), openNode(t, srv.URL(), "b")
	release := make(chan struct{})
	delivered := make(chan struct{}, 1000)
	slow, err := b.Rooms("chat").Join(context.Background(), "room=lobby", func(upstream.RoomMessage) {
		<-release
		delivered <- struct{}{}
	})
	if err != nil {
		t.Fatal(err)
	}
	pub := join(t, a.Rooms("chat"), "room=lobby", make(inbox, 1))
	data := make([]byte, 64<<10)
	const sent = 2 * pendingBytes / (64 << 10) // twice what the room may hold
	for range sent {
		pub.Publish(upstream.RoomMessage{Type: 2, Data: data})
	}
	// Everything sent has reached b: held (pending, or the one in
	// delivery) or dropped.
	sub := slow.(*link).sub
	wstest.Eventually(t, waitLimit, func() bool {
		pending, _, _ := sub.Pending()
		_, dropped := b.linkStats()
		return int64(pending)+dropped >= sent-1
	})
	_, dropped := b.linkStats()
	close(release)
	slow.Leave()
	if _, after := b.linkStats(); after != dropped {
		t.Errorf("a left room's drops were forgotten: %d, then %d", dropped, after)
	}
	if held := sent - dropped; held > pendingBytes/(64<<10)+1 || dropped == 0 {
		t.Errorf("dropped %d of %d, want about what did not fit in %d bytes", dropped, sent, pendingBytes)
	}
}
