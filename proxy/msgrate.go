package proxy

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/reactor"
	"github.com/wsedge/wsedge/internal/wsframe"
)

// limits.client_message_rate (issue 10) bounds what each client sends on
// one connection: messages a second and payload bytes a second, each with
// a burst of one second's worth (a client may send a second's worth at
// once, then keep to the rate). What the backend or a built-in handler
// sends to the client is never limited.
//
// The budget is a GCRA (virtual scheduling) counter per dimension: the
// theoretical arrival time, in monotime nanoseconds, at which the client
// would be even with its rate. A frame fits while that time, with the
// frame's cost added, is at most one second ahead of now; a frame costing
// more than a second's worth fits only when the budget is full, so no size
// is refused for ever. The budget is judged frame by frame as the frames
// are parsed, before any of a frame is passed on:
//
//   - a data message costs one message when its first frame arrives (so a
//     message that does not fit is stopped before any of it passes); every
//     data frame costs its payload bytes;
//   - control frames cost their payload bytes but are never stopped at: a
//     pong or a close passes at once, unless it comes behind a data frame
//     that is waiting (order is kept);
//   - on_exceed pause (the default): reading stops at the first data frame
//     that does not fit, until it does (and at least minRatePause), while
//     the kernel's buffers fill and TCP slows the client down; then reading
//     resumes by itself. Nothing is lost or reordered. What was read
//     behind that frame waits in a pooled buffer (at most one read).
//   - on_exceed close: the frame that does not fit and everything after it
//     is dropped, but for the client's close frame, and the client gets
//     1008 Policy Violation "message rate exceeded". A proxied client is
//     treated as one that broke the protocol: the backend gets 1001
//     "client message rate exceeded", and the client its 1008 once the
//     backend has answered. A built-in handler reads what passed first;
//     then the client gets 1008, and the handler's read fails once the
//     client has answered. Everything that passed was within the budget.
//
// A paused client is "held back" for keepalive: its pong may sit unread
// behind what it sent, so it is not judged for a ping that times out
// during a pause (see liveness.dead). A pause is not cut short by a
// closing handshake, which close_wait bounds as always.

const (
	// rateBurst is how far ahead of its rate a client may run.
	rateBurst = int64(time.Second)
	// minRatePause is the shortest pause: a client kept to a fast rate is
	// read again in batches of at least this much of its rate, not frame
	// by frame, so a high rate costs no wake-up per message.
	minRatePause = int64(10 * time.Millisecond)
	// maxRateCost bounds the cost of one frame (about 13 days), so that a
	// huge length cannot overflow the clock.
	maxRateCost = int64(1) << 50
	// maxHeldCap bounds the held buffers kept for reuse (a held buffer
	// grows to one read at most).
	maxHeldCap = 2 * reactor.DefaultBufferSize
)

// reasonRate is the reason a client closed for its rate is sent (with
// 1008) and the cause logged.
const reasonRate = "message rate exceeded"

// errRateExceeded fails a built-in handler's read once its client has been
// sent 1008 for its rate.
var errRateExceeded = errors.New("proxy: client " + reasonRate)

// messageBudget is one client connection's budget. It is used by one
// goroutine at a time (the session's loop, or the built-in connection's
// reader) and takes no lock; judging a frame allocates nothing.
type messageBudget struct {
	msgCost   int64   // nanoseconds a message costs; 0: messages unlimited
	nsPerByte float64 // nanoseconds a payload byte costs; 0: bytes unlimited
	// The theoretical arrival times (monotime) of each dimension.
	msgTAT, byteTAT int64
	// now is the time frames are judged at, set before each batch.
	now int64
	// resumeAt is when the last frame that did not fit will fit.
	resumeAt int64
	// pausedUntil (monotime) is when reading resumes; zero: not paused.
	pausedUntil int64
	// pauses counts pause episodes: an episode starts at a pause and ends
	// once wsedge has read all the client had sent (throttled till then).
	pauses    int64
	throttled bool
	closes    bool // on_exceed: close
	// held is what the client sent from the frame that did not fit on,
	// read but not yet passed: it passes first when the pause ends. It
	// lives in heldBuf, from heldPool.
	held    []byte
	heldBuf *[]byte
}

// newMessageBudget returns a budget for rate, or nil if rate bounds
// nothing.
func newMessageBudget(rate *conftypes.MessageRate) *messageBudget {
	if !rate.Limited() {
		return nil
	}
	b := &messageBudget{}
	b.init(rate)
	return b
}

func (b *messageBudget) init(rate *conftypes.MessageRate) {
	b.closes = rate.Closes()
	if rate.Messages > 0 {
		b.msgCost = int64(math.Ceil(float64(time.Second) / rate.Messages))
	}
	if rate.Bytes > 0 {
		b.nsPerByte = float64(time.Second) / float64(rate.Bytes)
	}
}

// byteCost is what n payload bytes cost.
func (b *messageBudget) byteCost(n uint64) int64 {
	c := math.Ceil(float64(n) * b.nsPerByte)
	if c >= float64(maxRateCost) {
		return maxRateCost
	}
	return int64(c)
}

// admit reports whether a data frame with payload bytes fits now (first:
// it starts a message), and charges it if it does; if not, resumeAt says
// when it will.
func (b *messageBudget) admit(first bool, payload uint64) bool {
	var mc int64
	if first {
		mc = b.msgCost
	}
	bc := b.byteCost(payload)
	mt, bt := max(b.msgTAT, b.now), max(b.byteTAT, b.now)
	if !b.fits(mt, mc) || !b.fits(bt, bc) {
		b.resumeAt = max(mt+min(mc, rateBurst), bt+min(bc, rateBurst)) - rateBurst
		return false
	}
	b.msgTAT, b.byteTAT = mt+mc, bt+bc
	return true
}

// fits reports whether a cost fits in a dimension whose arrival time
// (already at least now) is tat.
func (b *messageBudget) fits(tat, cost int64) bool {
	return cost == 0 || tat == b.now || tat+cost-b.now <= rateBurst
}

// charge counts a control frame's payload, which always passes.
func (b *messageBudget) charge(payload uint64) {
	if c := b.byteCost(payload); c > 0 {
		b.byteTAT = max(b.byteTAT, b.now) + c
	}
}

// pause stops reading until the frame that did not fit does (and at
// least minRatePause), and reports whether that begins a pause episode.
func (b *messageBudget) pause() bool {
	b.pausedUntil = max(b.resumeAt, b.now+minRatePause)
	if b.throttled {
		return false
	}
	b.throttled = true
	b.pauses++
	return true
}

// paused reports whether reading is paused (b may be nil: no budget).
func (b *messageBudget) paused() bool { return b != nil && b.pausedUntil != 0 }

// caughtUp ends the pause episode once everything the client sent has been
// read and nothing is paused.
func (b *messageBudget) caughtUp() {
	if b.pausedUntil == 0 {
		b.throttled = false
	}
}

// hold keeps rest for when the pause ends: a copy, or, when rest is what
// is left of held itself (being passed), held cut down to it.
func (b *messageBudget) hold(rest []byte) {
	if b.heldBuf != nil {
		b.held = rest
		return
	}
	p := heldPool.Get().(*[]byte)
	*p = append((*p)[:0], rest...)
	b.heldBuf, b.held = p, *p
}

// release gives the held buffer back (b may be nil).
func (b *messageBudget) release() {
	if b == nil || b.heldBuf == nil {
		return
	}
	if cap(*b.heldBuf) <= maxHeldCap {
		heldPool.Put(b.heldBuf)
	}
	b.heldBuf, b.held = nil, nil
}

// heldPool holds the buffers of paused clients' input: a client needs one
// only while it is paused with part of a read unpassed.
var heldPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 64<<10)
	return &b
}}

// ratePaused reports the start of a pause episode of wait: counted, and
// logged at debug. It reads only what never changes, so a built-in
// connection's reader calls it without the connection's mutex.
func (lc *lifecycle) ratePaused(wait time.Duration) {
	lc.srv.metrics.clientRateLimited(lc.route, "paused")
	log := lc.srv.log
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	if ok, suppressed := lc.srv.pauseLog.allow(0, time.Now()); ok {
		log.Debug("websocket client paused for its message rate", "route", lc.route.Label(), "client", lc.client,
			"pause", wait.Round(time.Microsecond), "suppressed", suppressed)
	}
}

// rateClosed reports a client closed for its rate.
func (lc *lifecycle) rateClosed() {
	lc.srv.metrics.clientRateLimited(lc.route, "closed")
	lc.srv.log.Info("websocket client over its message rate: closing with 1008", "route", lc.route.Label(), "client", lc.client)
}

// Proxied sessions: the client's budget is its scanner's (scanner.rate).

// hold pauses src (the client), keeping rest, what it sent from the frame
// that did not fit on; the session's alarm resumes it (resumeIfDue).
func (ss *session) hold(src *leg, rest []byte) {
	b := src.in.rate
	b.hold(rest)
	if b.pause() {
		ss.ratePaused(time.Duration(b.pausedUntil - b.now))
	}
	ss.arm(b.pausedUntil)
}

// relayHeld relays what src was paused with, now that the pause is over;
// it may pause src again, holding what is left.
func (ss *session) relayHeld(src *leg) {
	b := src.in.rate
	in := b.held
	b.held = nil
	before := src.in.messages
	ss.relay(src, in, 0)
	if t := ss.route.traffic; t != nil {
		t.add(ss.loop.Index(), src.direction(), src.in.messages-before, 0)
	}
	if b.held == nil {
		b.release()
	}
}

// resumeIfDue ends the client's pause once its time has come, and reads
// it again: with edge-triggered readiness no event may come for what
// waited in the socket meanwhile.
func (ss *session) resumeIfDue() {
	b := ss.client.in.rate
	if ss.ended || !b.paused() {
		return
	}
	if monotime() < b.pausedUntil {
		ss.arm(b.pausedUntil)
		return
	}
	b.pausedUntil = 0
	ss.pump(&ss.client)
}

// rateExceeded closes src (the client) for its rate (on_exceed: close), as
// legFailed does a leg that broke the protocol: its scanner discards what
// it sends but its close, the backend gets 1001, and the client gets 1008
// once the backend has answered (at once if the backend cannot).
func (ss *session) rateExceeded(src *leg) {
	src.owed, src.failure = wsframe.ClosePolicyViolation, reasonRate
	ss.setEnd(src.side(), src.owed, src.name()+" "+reasonRate)
	ss.startClosing()
	ss.rateClosed()
	dst := src.peer
	if dst.dead || dst.closeSent || dst.pendingClose != nil {
		ss.queueClose(src, closePayload(int(src.owed), reasonRate))
		return
	}
	ss.queueClose(dst, closePayload(dst.lostCode(), src.name()+" "+reasonRate))
}

// Built-in handlers: gorilla reads the client through activityConn, whose
// frame counter judges the frames (frameCounter.pass).

// builtinBudget is a built-in connection's budget, with what its reader
// needs to wait out a pause.
type builtinBudget struct {
	messageBudget
	bc     *builtinConn
	timer  *time.Timer   // the pause's wake-up, made at the first pause
	closed chan struct{} // closed when the connection is: a pause ends
	once   sync.Once
	// With on_exceed close: over, the client is to be sent 1008 at the
	// next read; failed, it has been, and what it sends is dropped.
	over, failed bool
}

// limit puts the client's reads under the route's client_message_rate, if
// it has one; bc.start calls it before the handler reads.
func (c *activityConn) limit(bc *builtinConn) {
	rate := &bc.route.messageRate
	if !rate.Limited() {
		return
	}
	b := &builtinBudget{bc: bc, closed: make(chan struct{})}
	b.init(rate)
	c.in.rate = &b.messageBudget
	c.rate.Store(b)
}

// readLimited is Read under the client's budget: gorilla gets what fits,
// up to the header of the first data frame that does not, and the rest is
// held for the next Read. With pause, that Read waits until the frame
// fits; with close, the client is sent 1008 and the frame never reaches
// the handler.
func (c *activityConn) readLimited(b *builtinBudget, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if b.over {
			// The handler has had what passed: the client gets its 1008.
			b.over, b.failed = false, true
			b.bc.rateExceeded()
		}
		if b.failed {
			return 0, c.discardUntilClose(b, p)
		}
		if err := b.wait(); err != nil {
			return 0, err
		}
		n, read, err := 0, 0, error(nil)
		fromHeld := len(b.held) > 0
		if fromHeld {
			n = copy(p, b.held)
		} else {
			n, err = c.readSocket(p)
			read = n
		}
		b.now = monotime()
		k, messages := c.in.pass(p[:n])
		c.counted(messages, read)
		switch {
		case fromHeld:
			b.held = b.held[k:]
			if len(b.held) == 0 {
				b.release()
			}
		case k < n:
			b.hold(p[k:n])
		}
		if k == n {
			if !fromHeld && n < len(p) {
				b.caughtUp()
			}
			return n, err
		}
		if b.closes {
			b.over = true
			c.in.rate = nil
		} else if b.pause() {
			b.bc.ratePaused(time.Duration(b.pausedUntil - b.now))
		}
		if k > 0 {
			return k, nil
		}
	}
}

// wait waits out a pause, unless the connection is closed meanwhile.
func (b *builtinBudget) wait() error {
	until := b.pausedUntil
	if until == 0 {
		return nil
	}
	b.pausedUntil = 0
	d := time.Duration(until - monotime())
	if d <= 0 {
		return nil
	}
	if b.timer == nil {
		b.timer = time.NewTimer(d)
	} else {
		b.timer.Reset(d)
	}
	select {
	case <-b.timer.C:
		return nil
	case <-b.closed:
		b.timer.Stop()
		return net.ErrClosed
	}
}

// discardUntilClose reads and drops what a client closed for its rate
// still sends, until its close frame (or the end of the connection: the
// close deadline closes it), then fails the handler's read. Closing the
// socket with that unread would reset the connection under the 1008.
func (c *activityConn) discardUntilClose(b *builtinBudget, p []byte) error {
	if len(b.held) > 0 {
		c.in.feed(b.held)
		b.release()
	}
	for !c.in.closed {
		n, err := c.readSocket(p)
		c.in.feed(p[:n])
		c.counted(0, n)
		if err != nil {
			return err
		}
	}
	return errRateExceeded
}

// rateExceeded closes a client over its message rate (on_exceed: close)
// with 1008, once the handler has had what passed before the frame that
// did not fit; the handler's read fails once the client has answered (see
// activityConn.readLimited). It runs on the handler's reading goroutine.
func (bc *builtinConn) rateExceeded() {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.ended {
		return
	}
	bc.rateClosed()
	bc.setEnd(endedByClient, wsframe.ClosePolicyViolation, "client "+reasonRate)
	if bc.closing() { // one close frame: a second would fail the connection
		return
	}
	bc.startClosing()
	bc.sendClose(closePayload(wsframe.ClosePolicyViolation, reasonRate))
}

// close ends a pause the reader may be in.
func (b *builtinBudget) close() { b.once.Do(func() { close(b.closed) }) }
