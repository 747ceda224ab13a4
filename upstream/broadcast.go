package upstream

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
)

// closeTooSlow is sent to a member whose queue stayed full for the write
// timeout: 1008 Policy Violation (RFC 6455 section 7.4.1), the room's
// policy being that nobody holds it back for longer.
const closeTooSlow = websocket.ClosePolicyViolation

// broadcastMaxMessage bounds a broadcast message whatever
// max_message_bytes says: each is held whole, once per room, until every
// member's queue has taken it.
const broadcastMaxMessage = 1 << 20

// broadcast puts each connection in a room named by the route's parameters
// (/chat/:room) and sends every message from a member to every member of
// the room, the sender included unless echo_self is off (issue 12).
//
// Each member has a queue bounded in bytes (member_queue) of messages
// framed once for the whole room, and a writer that empties it. A
// publisher that finds a queue full waits for room in it: its reads
// pause and TCP slows its client down, so a burst is paced by the room
// rather than evicting its members. A member whose writer takes nothing
// for the write timeout (while a publisher waits on its full queue, or
// in a write that times out) is evicted: taken out of the room at once,
// logged, and closed with 1008, or dropped if a write was cut.
type broadcast struct {
	log          *slog.Logger
	writeTimeout time.Duration
	// closeWait is CloseWait(writeTimeout): how long a closing handshake
	// the handler starts may take, and how long a full queue may make no
	// progress, a publisher waiting on it, before its member is evicted.
	closeWait  time.Duration
	queueLimit int64
	echoSelf   bool
	maxRooms   int
	maxMembers int
	bus        RoomBus
	ids        atomic.Uint64 // the last member id given

	mu    sync.Mutex // guards rooms, and each room's slots and member list writes
	rooms map[string]*room
}

// member is one connection in a room.
type member struct {
	id      uint64 // RoomMessage.Publisher: unique within the handler
	client  string // the client's address, for the log
	conn    *websocket.Conn
	queue   *sendQueue
	evicted chan struct{} // closed when the member is evicted
	done    chan struct{} // closed when the member's reader has ended
}

func newBroadcast(cfg Config, env Env) *broadcast {
	s := cfg.Broadcast.settings()
	return &broadcast{
		log:          env.Log,
		writeTimeout: env.WriteTimeout,
		closeWait:    CloseWait(env.WriteTimeout),
		queueLimit:   s.memberQueue,
		echoSelf:     s.echoSelf,
		maxRooms:     s.maxRooms,
		maxMembers:   s.maxMembers,
		bus:          env.Rooms,
		rooms:        map[string]*room{},
	}
}

// Close holds nothing to release: rooms end, and leave the bus, with
// their last member.
func (b *broadcast) Close() error { return nil }

// broadcastSession is one member from its handshake on.
type broadcastSession struct {
	hub    *broadcast
	room   *room
	member *member
	// stalls times this member's waits, as a publisher, for room in
	// full queues.
	stalls stallTimer
}

// Open reserves the member's place in its room before the upgrade, so a
// room or member over its limit is still an HTTP refusal, and links a
// new room to the bus (see subscribe); a member of a room being linked
// waits for that. The member is then admitted, its queue taking the
// room's messages from here on: it misses nothing published after its
// 101, here or on another instance. Its writer starts with Serve.
func (b *broadcast) Open(r *http.Request, params httprouter.Params) (Session, error) {
	rm, created, err := b.reserve(roomKey(params))
	if err != nil {
		return nil, err
	}
	if created {
		b.subscribe(r.Context(), rm)
	} else if err := b.awaitLink(r.Context(), rm); err != nil {
		return nil, err
	}
	m := &member{
		id:      b.ids.Add(1),
		client:  r.RemoteAddr,
		queue:   newSendQueue(b.queueLimit),
		evicted: make(chan struct{}),
		done:    make(chan struct{}),
	}
	b.admit(rm, m)
	return &broadcastSession{hub: b, room: rm, member: m}, nil
}

// Abandon takes the member out of its room and gives back its place.
func (s *broadcastSession) Abandon() { s.leave() }

// leave takes the member out of its room, releases the publishers
// waiting on its queue, and gives back its place.
func (s *broadcastSession) leave() {
	m := s.member
	ended, _ := m.queue.end()
	s.hub.remove(s.room, m)
	close(m.done)
	ended.wake()
	s.hub.release(s.room)
}

// roomKey names a room by all of the route's parameters, so /chat/:room
// rooms are "room=lobby" and a route without parameters has one room.
func roomKey(params httprouter.Params) string {
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = p.Key + "=" + p.Value
	}
	return strings.Join(parts, "&")
}

// Serve runs one member: this goroutine reads and publishes (readPump),
// writePump writes what the member's queue has taken since Open; Serve
// waits for writePump before returning.
func (s *broadcastSession) Serve(conn *websocket.Conn) {
	m := s.member
	m.conn = conn
	var writer sync.WaitGroup
	writer.Go(func() { s.hub.writePump(s.room, m) })
	defer writer.Wait() // after leave: done ends the writer's wait
	defer s.leave()
	s.readPump(m)
}

// readPump reads the member's messages and publishes each to the room.
// While publish waits for room in a full queue, nothing is read: the
// client's TCP window closes and it is slowed down. No read is waiting
// then, so the proxy's keepalive does not judge the client's silence.
func (s *broadcastSession) readPump(m *member) {
	for {
		mt, r, err := m.conn.NextReader()
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
			failInvalidText(m.conn, err, s.hub.closeWait)
			return
		}
		if len(data) > broadcastMaxMessage {
			fail(m.conn, websocket.CloseMessageTooBig, "message too big for a broadcast", s.hub.closeWait)
			return
		}
		if err := s.hub.publish(s.room, m, mt, data, &s.stalls); err != nil {
			return
		}
	}
}

// publish sends a member's message to the other instances, and to every
// member of the room here. An evicted member, whose close is under way,
// publishes nothing more.
func (b *broadcast) publish(rm *room, from *member, mt int, data []byte, stalls *stallTimer) error {
	select {
	case <-from.evicted:
		return nil
	default:
	}
	msg, err := prepareQueued(mt, data)
	if err != nil {
		return err
	}
	if rm.link != nil {
		rm.link.Publish(RoomMessage{Publisher: from.id, Type: mt, Data: data})
	}
	for _, m := range *rm.members.Load() {
		if m != from || b.echoSelf {
			b.enqueue(rm, m, msg, stalls)
		}
	}
	return nil
}

// deliver is what the room's link delivers: a message another instance
// published goes to every member here, as a local one does (its
// publisher is elsewhere, so echo_self has no say).
func (b *broadcast) deliver(rm *room, rmsg RoomMessage) {
	msg, err := prepareQueued(rmsg.Type, rmsg.Data)
	if err != nil {
		return // not a text or binary message: nothing a member could get
	}
	for _, m := range *rm.members.Load() {
		b.enqueue(rm, m, msg, &rm.deliveries)
	}
}

// enqueue puts msg in m's queue, waiting while the queue is full. A wait
// restarts whenever m's writer takes a message; one that lasts
// closeWait evicts m. Publishers wait on each member in turn, so each
// member gets each publisher's messages in order.
func (b *broadcast) enqueue(rm *room, m *member, msg queued, stalls *stallTimer) {
	for {
		res, changed := m.queue.offer(msg)
		if res != offerFull {
			return
		}
		if stalls.expired(changed, b.closeWait) {
			b.evict(rm, m, changed)
		}
	}
}

// evict takes a member that holds the room back out of it and has its
// writer close it, if its queue is still stalled (see
// sendQueue.stalled). The publishers waiting on it go on only once it is
// out of the room and logged.
func (b *broadcast) evict(rm *room, m *member, waitedOn <-chan struct{}) {
	ended, ok := m.queue.stalled(waitedOn)
	if !ok {
		return
	}
	b.remove(rm, m)
	b.log.Warn("broadcast member too slow, closing", "room", rm.key, "client", m.client,
		"queued_bytes", ended.dropped, "queue_limit", b.queueLimit)
	close(m.evicted)
	ended.wake()
}

// heldWriter is what a built-in's connection may offer (the proxy's
// does) to gather the frames written between Hold and Flush into few
// system calls: writePump holds while its member has messages queued, so
// a burst costs a write(2) per 16 KiB rather than one per message per
// member, which bench/fanout showed is most of a room's CPU.
type heldWriter interface {
	Hold()
	Flush() error
}

// writePump is the member connection's only writer. An evicted member's
// queue is emptied, so its close frame comes next.
func (b *broadcast) writePump(rm *room, m *member) {
	held, _ := m.conn.NetConn().(heldWriter)
	holding := false
	for {
		msg, ok := m.queue.pop()
		if !ok {
			if holding {
				holding = false
				if err := held.Flush(); err != nil {
					b.writeFailed(rm, m, err)
					return
				}
			}
			select {
			case <-m.queue.ready:
				continue
			case <-m.evicted:
				b.closeSlow(m)
				return
			case <-m.done:
				return
			}
		}
		if held != nil && !holding {
			held.Hold()
			holding = true
		}
		setWriteDeadline(m.conn, b.writeTimeout)
		if err := m.conn.WritePreparedMessage(msg.prepared); err != nil {
			b.writeFailed(rm, m, err)
			return
		}
	}
}

// writeFailed ends a member whose write failed. A member that took no
// frame for the write timeout is closed, as every built-in's client is:
// it is the stall a waiting publisher would evict it for a moment later
// (that wait began after this write did), so it is evicted now, logged
// as such. The connection cannot carry a close frame after a cut one.
func (b *broadcast) writeFailed(rm *room, m *member, err error) {
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		b.evict(rm, m, nil)
	}
	m.conn.Close()
}

// closeSlow starts the closing handshake with an evicted member and gives
// it CloseWait to answer before dropping the connection.
func (b *broadcast) closeSlow(m *member) {
	msg := websocket.FormatCloseMessage(closeTooSlow, "too slow: fell behind the room")
	if err := m.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(b.closeWait)); err != nil {
		m.conn.Close()
		return
	}
	t := time.NewTimer(b.closeWait)
	defer t.Stop()
	select {
	case <-m.done:
	case <-t.C:
		m.conn.Close()
	}
}
