package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsedge/wsedge/upstream"
)

// A room message on NATS is a header and the member's message:
//
//	version (1 byte) | type (1) | origin instance (8) | publisher (8) | data
//
// The origin lets an instance recognise its own messages, the publisher
// names the member within it, and the type is the WebSocket opcode
// (text or binary).
const (
	headerLen      = 18
	messageVersion = 1
)

// Bounds on what one room's subscription may hold while its local
// members take their time (a member is evicted after write_timeout):
// beyond them NATS's client drops the room's messages and they are
// counted as a slow consumer's. 8 MiB is eight full member queues at
// the default broadcast.member_queue.
const (
	pendingMessages = 64 << 10
	pendingBytes    = 8 << 20
)

// joinTimeout bounds how long a room's first member waits for NATS to
// confirm the room's subscription.
const joinTimeout = 5 * time.Second

// headerPool holds the buffers messages are framed in for Publish, which
// copies them into the connection's buffer before it returns.
var headerPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// Rooms is one route's rooms in the cluster: it implements
// upstream.RoomBus, each room a subject named after the cluster, the
// route and the room.
type Rooms struct {
	n     *Node
	route string
}

// Rooms returns the rooms of the route labelled route (its name, else
// host and path), which must be the same on every instance.
func (n *Node) Rooms(route string) *Rooms { return &Rooms{n: n, route: route} }

// Join subscribes this instance to room's subject and waits (up to
// joinTimeout, or ctx) for NATS to confirm it; while NATS is down it
// returns at once, and the client subscribes when it reconnects.
func (r *Rooms) Join(ctx context.Context, room string, deliver func(upstream.RoomMessage)) (upstream.RoomLink, error) {
	l := &link{n: r.n, subject: roomSubject(r.n.cfg.name(), r.route, room)}
	sub, err := r.n.conn.Subscribe(l.subject, func(m *nats.Msg) { l.receive(m, deliver) })
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribe to %s: %w", l.subject, err)
	}
	if err := sub.SetPendingLimits(pendingMessages, pendingBytes); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("cluster: limit %s: %w", l.subject, err)
	}
	l.sub = sub
	r.n.remember(l)
	if r.n.conn.IsConnected() {
		ctx, cancel := context.WithTimeout(ctx, joinTimeout)
		defer cancel()
		if err := r.n.conn.FlushWithContext(ctx); err != nil {
			r.n.log.Warn("cluster: room subscription not confirmed yet", "subject", l.subject, "err", err)
		}
	}
	return l, nil
}

// link is one room's subscription, and what publishes to it.
type link struct {
	n       *Node
	subject string
	sub     *nats.Subscription
	left    atomic.Bool
}

// Publish frames msg and sends it without waiting: while NATS is down
// the client refuses it (no reconnect buffer), and it is counted as
// dropped.
func (l *link) Publish(msg upstream.RoomMessage) {
	bp := headerPool.Get().(*[]byte)
	b := binary.BigEndian.AppendUint64(append((*bp)[:0], messageVersion, byte(msg.Type)), l.n.origin)
	b = append(binary.BigEndian.AppendUint64(b, msg.Publisher), msg.Data...)
	err := l.n.conn.Publish(l.subject, b)
	*bp = b
	headerPool.Put(bp)
	if err != nil {
		l.n.dropped(err)
		return
	}
	l.n.stats.published.Add(1)
}

// receive hands a message from another instance to deliver.
func (l *link) receive(m *nats.Msg, deliver func(upstream.RoomMessage)) {
	d := m.Data
	if len(d) < headerLen || d[0] != messageVersion {
		l.n.stats.malformed.Add(1)
		return
	}
	if binary.BigEndian.Uint64(d[2:10]) == l.n.origin || l.left.Load() {
		return
	}
	l.n.stats.received.Add(1)
	deliver(upstream.RoomMessage{Type: int(d[1]), Publisher: binary.BigEndian.Uint64(d[10:18]), Data: d[headerLen:]})
}

// Leave unsubscribes; a delivery in progress may finish.
func (l *link) Leave() {
	if l.left.Swap(true) {
		return
	}
	l.n.forget(l)
	l.sub.Unsubscribe()
}

func (n *Node) remember(l *link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links[l] = struct{}{}
}

// forget stops counting l's subscription, keeping what it dropped.
func (n *Node) forget(l *link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.links, l)
	if d, err := l.sub.Dropped(); err == nil {
		n.droppedBySlowLinks += int64(d)
	}
}

// dropped counts a message Publish could not send. The first of an
// outage is logged when the connection drops (DisconnectErrHandler), the
// count when it is back.
func (n *Node) dropped(err error) {
	if errors.Is(err, nats.ErrReconnectBufExceeded) || errors.Is(err, nats.ErrConnectionClosed) || !n.conn.IsConnected() {
		n.stats.droppedDisconnected.Add(1)
		n.outageDrops.Add(1)
		return
	}
	n.stats.droppedError.Add(1)
	n.log.Warn("cluster: publish failed", "err", err)
}

// linkStats returns how many rooms are linked, and how many messages
// their subscriptions (present and past) dropped as slow consumers.
func (n *Node) linkStats() (rooms int, slow int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	slow = n.droppedBySlowLinks
	for l := range n.links {
		if d, err := l.sub.Dropped(); err == nil {
			slow += int64(d)
		}
	}
	return len(n.links), slow
}
