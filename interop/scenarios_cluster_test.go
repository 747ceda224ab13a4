package interop

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/natstest"
	"github.com/wsedge/wsedge/internal/wstest"
)

// The cluster's scenarios (issue 12): wsedge instances, real processes,
// sharing broadcast rooms through a real NATS server (in this process).

// startCluster starts n wsedge instances on the NATS server at natsURL,
// as o says, each serving the broadcast built-in on /room/:room, and
// the other routes given.
func startCluster(t *testing.T, natsURL string, n int, o edgeOptions, routes ...route) []*edge {
	t.Helper()
	edges := make([]*edge, n)
	for i := range edges {
		o := o
		o.Extra = fmt.Sprintf(`cluster:
  nats: [%q]
  instance: edge-%d
  reconnect_wait: 100ms
`, natsURL, i+1)
		edges[i] = startEdge(t, o, append([]route{{Name: "rooms", Path: "/room/:room", Handler: "broadcast"}}, routes...)...)
	}
	return edges
}

// roomMember is a client in a broadcast room that records every message
// it gets, as "<publisher> <sequence>" text, until its connection ends.
type roomMember struct {
	name string
	conn *websocket.Conn

	mu      sync.Mutex
	got     []string
	ended   error // why the reader stopped, once it has
	changed chan struct{}
	done    chan struct{} // closed when the reader has stopped
}

// joinRoomAt connects a member to room on e's plain listener.
func joinRoomAt(t *testing.T, e *edge, room, name string) *roomMember {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(e.wsURL("/room/"+room), nil)
	if err != nil {
		t.Fatalf("%s joins %s: %v", name, room, err)
	}
	m := &roomMember{name: name, conn: conn, changed: make(chan struct{}), done: make(chan struct{})}
	go m.read()
	t.Cleanup(func() {
		conn.Close()
		select {
		case <-m.done:
		case <-time.After(waitLimit):
			t.Errorf("%s's reader did not stop", name)
		}
	})
	return m
}

// joinSpread joins n members to room, placed in turn on each of edges,
// and returns those on edges[on] and the others.
func joinSpread(t *testing.T, edges []*edge, room string, n, on int) (onIt, elsewhere []*roomMember) {
	t.Helper()
	for i := range n {
		k := i % len(edges)
		m := joinRoomAt(t, edges[k], room, fmt.Sprintf("member%d@edge%d", i, k+1))
		if k == on {
			onIt = append(onIt, m)
		} else {
			elsewhere = append(elsewhere, m)
		}
	}
	return onIt, elsewhere
}

func (m *roomMember) read() {
	defer close(m.done)
	for {
		_, data, err := m.conn.ReadMessage()
		m.mu.Lock()
		if err != nil {
			m.ended = err
		} else {
			m.got = append(m.got, string(data))
		}
		close(m.changed)
		m.changed = make(chan struct{})
		m.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// waitFor waits until cond holds for what the member got (and why it
// stopped, if it has), failing the test after waitLimit.
func (m *roomMember) waitFor(t *testing.T, what string, cond func(got []string, ended error) bool) {
	t.Helper()
	if !m.within(waitLimit, cond) {
		m.mu.Lock()
		defer m.mu.Unlock()
		t.Fatalf("%s: %s: not within %v (it has %d messages, reader ended: %v)", m.name, what, waitLimit, len(m.got), m.ended)
	}
}

// within reports whether cond holds within limit.
func (m *roomMember) within(limit time.Duration, cond func(got []string, ended error) bool) bool {
	deadline := time.After(limit)
	for {
		m.mu.Lock()
		ok, changed := cond(m.got, m.ended), m.changed
		m.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-deadline:
			return false
		}
	}
}

// received returns a copy of what the member has got.
func (m *roomMember) received() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.got...)
}

// countFrom counts the messages in got from publisher.
func countFrom(got []string, publisher string) int {
	n := 0
	for _, g := range got {
		if strings.HasPrefix(g, publisher+" ") {
			n++
		}
	}
	return n
}

// checkSequences checks that got holds, from each publisher in want,
// exactly the sequence numbers want gives it (first..last, each once, in
// order), and nothing from anyone else but probes.
func checkSequences(t *testing.T, who string, got []string, want map[string][2]int) {
	t.Helper()
	next := map[string]int{}
	for p, r := range want {
		next[p] = r[0]
	}
	for _, g := range got {
		p, seqText, _ := strings.Cut(g, " ")
		if p == "probe" {
			continue
		}
		r, ok := want[p]
		if !ok {
			t.Errorf("%s: unexpected message %q", who, g)
			return
		}
		seq, _ := strconv.Atoi(seqText)
		if seq != next[p] || seq > r[1] {
			t.Errorf("%s: from %s got %d, want %d (a loss, duplicate or reordering)", who, p, seq, next[p])
			return
		}
		next[p]++
	}
	for p, r := range want {
		if next[p] != r[1]+1 {
			t.Errorf("%s: from %s got up to %d, want %d", who, p, next[p]-1, r[1])
		}
	}
}

// publish sends publisher's messages first..last on m.
func (m *roomMember) publish(t *testing.T, publisher string, first, last int) {
	t.Helper()
	for i := first; i <= last; i++ {
		if err := m.conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%s %d", publisher, i)); err != nil {
			t.Fatalf("%s publishes %d: %v", m.name, i, err)
		}
	}
}

// TestClusterRoomsExactlyOnce: three instances on one NATS server, 300
// members spread over them in 10 rooms; three members of each room, one
// per instance, publish 50 numbered messages each at the same time.
// Every member receives every message of its room exactly once, each
// publisher's in order, and nothing of another room.
func TestClusterRoomsExactlyOnce(t *testing.T) {
	nats := natstest.Start(t)
	edges := startCluster(t, nats.URL(), 3, edgeOptions{})
	const rooms, perRoom, perPublisher = 10, 30, 50
	members := map[string][]*roomMember{}
	for r := range rooms {
		room := fmt.Sprintf("r%d", r)
		for i := range perRoom {
			members[room] = append(members[room], joinRoomAt(t, edges[i%3], room, fmt.Sprintf("%s/member%d@edge%d", room, i, i%3+1)))
		}
	}
	// Every member's handshake is done, so every instance's
	// subscription to its rooms is in place (they are made before the
	// 101): publishing may start.
	var publishers sync.WaitGroup
	want := map[string]map[string][2]int{}
	for room, ms := range members {
		want[room] = map[string][2]int{}
		for _, p := range ms[:3] { // members 0, 1, 2: one on each instance
			publisher := room + "-" + p.name[len(room)+1:]
			want[room][publisher] = [2]int{1, perPublisher}
			publishers.Go(func() {
				for i := 1; i <= perPublisher; i++ {
					if err := p.conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%s %d", publisher, i)); err != nil {
						t.Errorf("%s publishes: %v", p.name, err)
						return
					}
				}
			})
		}
	}
	publishers.Wait()
	for room, ms := range members {
		for _, m := range ms {
			m.waitFor(t, "all of its room's messages", func(got []string, _ error) bool { return len(got) >= 3*perPublisher })
			checkSequences(t, m.name, m.received(), want[room])
		}
	}
	for i, e := range edges {
		// Each instance publishes its 10 publishers' messages once and
		// receives the other two instances'.
		if got := e.metric(t, "wsedge_cluster_messages_published_total"); got != rooms*perPublisher {
			t.Errorf("edge %d published %v messages to NATS, want %d", i+1, got, rooms*perPublisher)
		}
		if got := e.metric(t, "wsedge_cluster_messages_received_total"); got != 2*rooms*perPublisher {
			t.Errorf("edge %d received %v messages from NATS, want %d", i+1, got, 2*rooms*perPublisher)
		}
	}
}

// TestClusterInstanceKilled: an instance killed mid-stream (SIGKILL)
// takes its members' connections with it; the members on the other two
// instances lose nothing and get nothing twice.
func TestClusterInstanceKilled(t *testing.T) {
	nats := natstest.Start(t)
	edges := startCluster(t, nats.URL(), 3, edgeOptions{})
	doomed, survivors := joinSpread(t, edges, "lobby", 30, 1)
	const total = 2000
	p1, p3 := survivors[0], survivors[1] // on edges 1 and 3
	var publishers sync.WaitGroup
	for _, p := range []struct {
		m    *roomMember
		name string
	}{{p1, "p1"}, {p3, "p3"}} {
		publishers.Go(func() {
			for i := 1; i <= total; i++ {
				if err := p.m.conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%s %d", p.name, i)); err != nil {
					t.Errorf("%s publishes %d: %v", p.name, i, err)
					return
				}
			}
		})
	}
	// Mid-stream: once edge 2's first member has a quarter of p1's.
	doomed[0].waitFor(t, "a quarter of the stream", func(got []string, _ error) bool { return countFrom(got, "p1") >= total/4 })
	edges[1].kill(t)
	for _, m := range doomed {
		m.waitFor(t, "its connection to drop", func(_ []string, ended error) bool { return ended != nil })
	}
	publishers.Wait()
	want := map[string][2]int{"p1": {1, total}, "p3": {1, total}}
	for _, m := range survivors {
		m.waitFor(t, "both whole streams", func(got []string, _ error) bool { return len(got) >= 2*total })
		checkSequences(t, m.name, m.received(), want)
	}
	for _, m := range doomed {
		if got := len(m.received()); got >= 2*total {
			t.Errorf("%s got all %d messages although its instance was killed mid-stream", m.name, got)
		}
	}
}

// TestClusterThroughNATSRestart: while the NATS server is down, members
// on the publisher's own instance still get everything, the other
// instances' members get nothing of it, and the publisher's instance
// counts what it dropped; once NATS is back the instances reconnect,
// their subscriptions are restored, and messages cross again.
func TestClusterThroughNATSRestart(t *testing.T) {
	nats := natstest.Start(t)
	edges := startCluster(t, nats.URL(), 3, edgeOptions{})
	local, remote := joinSpread(t, edges, "lobby", 9, 0)
	pub := local[0]
	const n = 100
	pub.publish(t, "p", 1, n)
	for _, m := range append(local, remote...) {
		m.waitFor(t, "the first 100", func(got []string, _ error) bool { return countFrom(got, "p") == n })
	}

	nats.Stop()
	for _, e := range edges {
		wstest.Eventually(t, waitLimit, func() bool { return e.metric(t, "wsedge_cluster_connected") == 0 })
	}
	pub.publish(t, "p", n+1, 2*n)
	for _, m := range local {
		m.waitFor(t, "the outage's 100, delivered locally", func(got []string, _ error) bool { return countFrom(got, "p") == 2*n })
	}
	wstest.Eventually(t, waitLimit, func() bool {
		return edges[0].metric(t, "wsedge_cluster_messages_dropped_total", "reason", "disconnected") == n
	})

	nats.Restart()
	for _, e := range edges {
		wstest.Eventually(t, waitLimit, func() bool {
			return e.metric(t, "wsedge_cluster_connected") == 1 && e.metric(t, "wsedge_cluster_reconnects_total") == 1
		})
	}
	// The instances have reconnected; the remote ones' subscriptions
	// reach the server with their reconnect, not necessarily before
	// the publisher's next message: probes go until each remote member
	// has one, then the numbered messages follow.
	hasProbe := func(got []string, _ error) bool { return countFrom(got, "probe") > 0 }
	for _, m := range remote {
		for attempt := 0; !m.within(time.Second, hasProbe); attempt++ {
			if attempt == 30 {
				t.Fatalf("%s: no probe after 30 tries: cross-instance delivery did not resume", m.name)
			}
			pub.publish(t, "probe", 0, 0)
		}
	}
	pub.publish(t, "p", 2*n+1, 3*n)
	for _, m := range local {
		m.waitFor(t, "all 300", func(got []string, _ error) bool { return countFrom(got, "p") == 3*n })
		checkSequences(t, m.name, m.received(), map[string][2]int{"p": {1, 3 * n}})
	}
	for _, m := range remote {
		m.waitFor(t, "the last 100", func(got []string, _ error) bool {
			return len(got) > 0 && got[len(got)-1] == fmt.Sprintf("p %d", 3*n)
		})
		got := m.received()
		var before, after []string
		for _, g := range got {
			if seq, _ := strconv.Atoi(strings.TrimPrefix(g, "p ")); strings.HasPrefix(g, "p ") && seq <= n {
				before = append(before, g)
			} else {
				after = append(after, g)
			}
		}
		checkSequences(t, m.name+" (before the outage)", before, map[string][2]int{"p": {1, n}})
		checkSequences(t, m.name+" (after it)", after, map[string][2]int{"p": {2*n + 1, 3 * n}})
	}
}

// TestChromiumClusterChat: two Chromium tabs, each with its page and its
// socket on a different instance, chat in one broadcast room, over
// HTTP/2 as browsers open them: NATS carries the room between the
// instances.
func TestChromiumClusterChat(t *testing.T) {
	wstest.Chromium(t)
	nats := natstest.Start(t)
	cert := newCert(t)
	b := startChromium(t, cert)
	edges := startCluster(t, nats.URL(), 2, edgeOptions{Cert: cert},
		route{Name: "static", Path: "/static/*file", Backend: "ws://" + startPageServer(t) + "/{file}"})
	a, c := openPage(t, b, edges[0], "h2"), openPage(t, b, edges[1], "h2")
	a.open(t, "room", "/room/lobby", nil, nil)
	c.open(t, "room", "/room/lobby", nil, nil)
	for i := range 3 {
		for _, from := range []struct {
			tab  *page
			name string
		}{{a, "tab A on edge-1"}, {c, "tab B on edge-2"}} {
			msg := fmt.Sprintf("message %d from %s", i, from.name)
			from.tab.sendText(t, "room", msg)
			for _, to := range []*page{a, c} {
				if got := to.next(t, "room"); got.Text != msg {
					t.Fatalf("got %q, want %q", got.Text, msg)
				}
			}
		}
	}
	for i, e := range edges {
		if got := e.metric(t, "wsedge_cluster_messages_received_total"); got != 3 {
			t.Errorf("edge-%d received %v messages from the other instance, want 3", i+1, got)
		}
	}
}
