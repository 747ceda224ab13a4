package proxy

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// keepalive pings one connection every interval and closes it when it has
// stayed silent for timeout after a ping. It runs on a runtime timer, not a
// goroutine of its own: an idle connection costs a timer, and the callback
// runs only when a ping or a verdict is due.
//
// Liveness is any sign of the peer since the ping: a pong, a ping, or a
// data message. While the connection's reader is not waiting on the peer
// (it is blocked writing a message to the other leg), it cannot read pongs,
// so no verdict is given; the other leg's write timeout bounds that state.
//
// A nil *keepalive (pings disabled) is valid and does nothing.
type keepalive struct {
	conn        *websocket.Conn
	interval    time.Duration
	timeout     time.Duration
	controlWait time.Duration // deadline for writing a ping

	activity atomic.Uint32 // bumped by the reader on every sign of life
	busy     atomic.Bool   // the reader is not waiting on the peer
	expired  atomic.Bool   // the peer was declared dead

	mu       sync.Mutex // held while fire runs; stop waits on it
	timer    *time.Timer
	stopped  bool
	awaiting bool      // a ping is outstanding
	seen     uint32    // activity when the outstanding ping was sent
	pingSent time.Time // when it was sent
	nextPing time.Time
}

func newKeepalive(conn *websocket.Conn, cfg KeepaliveConfig, controlWait time.Duration) *keepalive {
	if cfg.PingInterval <= 0 {
		return nil
	}
	k := &keepalive{
		conn:        conn,
		interval:    cfg.PingInterval.D(),
		timeout:     cfg.PongTimeout.D(),
		controlWait: controlWait,
	}
	// Count the peer's pongs and pings as life, and keep answering its
	// pings (RFC 6455 section 5.5.2) through gorilla's default handler.
	answerPing := conn.PingHandler()
	conn.SetPingHandler(func(data string) error {
		k.activity.Add(1)
		return answerPing(data)
	})
	conn.SetPongHandler(func(string) error {
		k.activity.Add(1)
		return nil
	})
	return k
}

// start arms the first ping.
func (k *keepalive) start() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.nextPing = time.Now().Add(k.interval)
	k.timer = time.AfterFunc(k.interval, k.fire)
}

// touch records a data message from the peer.
func (k *keepalive) touch() {
	if k != nil {
		k.activity.Add(1)
	}
}

// setWaiting records whether the reader is blocked reading from the peer
// (true) or busy elsewhere, such as writing to the other leg (false).
func (k *keepalive) setWaiting(waiting bool) {
	if k != nil {
		k.busy.Store(!waiting)
	}
}

// timedOut reports whether the connection was closed for silence.
func (k *keepalive) timedOut() bool { return k != nil && k.expired.Load() }

// stop cancels the timer and waits for a running callback to return.
func (k *keepalive) stop() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	if k.timer != nil {
		k.timer.Stop()
	}
}

func (k *keepalive) fire() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return
	}
	now := time.Now()
	if k.awaiting && !now.Before(k.pingSent.Add(k.timeout)) {
		if k.activity.Load() == k.seen && !k.busy.Load() {
			// Dead. Closing the socket ends the reader, which tells the
			// session; the session closes the other leg.
			k.expired.Store(true)
			k.conn.Close()
			return
		}
		k.awaiting = false
	}
	if !now.Before(k.nextPing) {
		if !k.awaiting {
			k.awaiting, k.seen, k.pingSent = true, k.activity.Load(), now
		}
		// A failed ping needs no handling here: the reader sees the
		// broken connection too.
		k.conn.WriteControl(websocket.PingMessage, nil, now.Add(k.controlWait))
		k.nextPing = now.Add(k.interval)
	}
	next := k.nextPing
	if verdict := k.pingSent.Add(k.timeout); k.awaiting && verdict.Before(next) {
		next = verdict
	}
	k.timer.Reset(time.Until(next))
}
