package upstream

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
)

// memberQueueLen is how many messages a broadcast member may fall behind
// before it is closed. The queue holds pointers to prepared messages shared
// by every member, so its cost is the messages, not copies of them.
const memberQueueLen = 64

// closeTooSlow is sent to a member that fell memberQueueLen messages behind:
// 1008 Policy Violation (RFC 6455 section 7.4.1), the room's policy being
// that nobody stalls it.
const closeTooSlow = websocket.ClosePolicyViolation

// broadcast puts each connection in a room named by the route's parameters
// (/chat/:room) and sends every message from a member to every member of
// the room, the sender included.
type broadcast struct {
	log          *slog.Logger
	writeTimeout time.Duration

	mu    sync.Mutex // guards rooms and every room's member list writes
	rooms map[string]*room
}

// room's member list is copy-on-write: publishing, the hot path, loads it
// without a lock; joins and leaves replace it under broadcast.mu.
type room struct {
	key     string
	members atomic.Pointer[[]*member]
}

type member struct {
	conn    *websocket.Conn
	queue   chan *websocket.PreparedMessage
	evicted chan struct{} // closed when the member is too slow
	done    chan struct{} // closed when the member's reader has ended
}

func newBroadcast(env Env) *broadcast {
	return &broadcast{log: env.Log, writeTimeout: env.WriteTimeout, rooms: map[string]*room{}}
}

// Close holds nothing to release: rooms end with their last member.
func (b *broadcast) Close() error { return nil }

type broadcastSession struct {
	hub *broadcast
	key string
}

func (b *broadcast) Open(_ *http.Request, params httprouter.Params) (Session, error) {
	return &broadcastSession{hub: b, key: roomKey(params)}, nil
}

// Abandon: a member joins its room only when it is served.
func (s *broadcastSession) Abandon() {}

// broadcastMaxMessage bounds a broadcast message whatever
// max_message_bytes says: each is held whole, once per room, until every
// member's queue has taken it.
const broadcastMaxMessage = 1 << 20

// roomKey names a room by all of the route's parameters, so /chat/:room
// rooms are "room=lobby" and a route without parameters has one room.
func roomKey(params httprouter.Params) string {
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = p.Key + "=" + p.Value
	}
	return strings.Join(parts, "&")
}

// Serve runs one member: this goroutine reads and publishes, writePump
// writes; Serve waits for writePump before returning.
func (s *broadcastSession) Serve(conn *websocket.Conn) {
	m := &member{
		conn:    conn,
		queue:   make(chan *websocket.PreparedMessage, memberQueueLen),
		evicted: make(chan struct{}),
		done:    make(chan struct{}),
	}
	rm := s.hub.join(s.key, m)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.hub.writePump(m)
	}()
	defer func() {
		s.hub.remove(rm, m)
		close(m.done)
		wg.Wait()
	}()
	for {
		mt, r, err := conn.NextReader()
		if err != nil {
			return
		}
		if mt == websocket.TextMessage {
			r = &utf8Reader{r: r} // 1007 rather than pass on text that is not UTF-8
		}
		// A broadcast needs the whole message to frame it once for every
		// member: the proxy's read limit bounds it, and broadcastMaxMessage
		// when that limit is off (max_message_bytes: 0).
		data, err := io.ReadAll(io.LimitReader(r, broadcastMaxMessage+1))
		if err != nil {
			failInvalidText(conn, err, s.hub.closeWait())
			return
		}
		if len(data) > broadcastMaxMessage {
			fail(conn, websocket.CloseMessageTooBig, "message too big for a broadcast", s.hub.closeWait())
			return
		}
		pm, err := websocket.NewPreparedMessage(mt, data)
		if err != nil {
			return
		}
		s.hub.publish(rm, pm)
	}
}

func (b *broadcast) publish(rm *room, pm *websocket.PreparedMessage) {
	for _, m := range *rm.members.Load() {
		select {
		case m.queue <- pm:
		default:
			b.evict(rm, m)
		}
	}
}

func (b *broadcast) join(key string, m *member) *room {
	b.mu.Lock()
	defer b.mu.Unlock()
	rm := b.rooms[key]
	if rm == nil {
		rm = &room{key: key}
		rm.members.Store(&[]*member{})
		b.rooms[key] = rm
	}
	old := *rm.members.Load()
	next := append(old[:len(old):len(old)], m)
	rm.members.Store(&next)
	return rm
}

// remove takes m out of rm and reports whether it was there.
func (b *broadcast) remove(rm *room, m *member) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *rm.members.Load()
	next := make([]*member, 0, len(old))
	for _, x := range old {
		if x != m {
			next = append(next, x)
		}
	}
	if len(next) == len(old) {
		return false
	}
	rm.members.Store(&next)
	if len(next) == 0 && b.rooms[rm.key] == rm {
		delete(b.rooms, rm.key)
	}
	return true
}

// evict takes a member that cannot keep up out of the room and tells its
// writer to close it. The publisher never writes to the slow member itself:
// that write could block, and the room must not wait on its slowest member.
func (b *broadcast) evict(rm *room, m *member) {
	if !b.remove(rm, m) {
		return // already gone: evicted by another publisher, or left
	}
	b.log.Warn("broadcast member too slow, closing",
		"room", rm.key, "client", m.conn.RemoteAddr().String(), "queued", len(m.queue))
	close(m.evicted)
}

// writePump is the member connection's only writer.
func (b *broadcast) writePump(m *member) {
	for {
		// An evicted member gets its close frame next, not the rest of
		// its queue.
		select {
		case <-m.evicted:
			b.closeSlow(m)
			return
		default:
		}
		select {
		case pm := <-m.queue:
			setWriteDeadline(m.conn, b.writeTimeout)
			if err := m.conn.WritePreparedMessage(pm); err != nil {
				m.conn.Close()
				return
			}
		case <-m.evicted:
			b.closeSlow(m)
			return
		case <-m.done:
			return
		}
	}
}

// closeSlow starts the closing handshake with a member that fell behind and
// gives it writeTimeout to answer before dropping the connection.
func (b *broadcast) closeSlow(m *member) {
	deadline := time.Now().Add(b.closeWait())
	msg := websocket.FormatCloseMessage(closeTooSlow, "too slow: fell behind the room")
	if err := m.conn.WriteControl(websocket.CloseMessage, msg, deadline); err != nil {
		m.conn.Close()
		return
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-m.done:
	case <-t.C:
		m.conn.Close()
	}
}

func (b *broadcast) closeWait() time.Duration { return CloseWait(b.writeTimeout) }
