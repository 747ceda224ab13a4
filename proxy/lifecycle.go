package proxy

import (
	"time"

	"github.com/wsedge/wsedge/internal/reactor"
)

// monotime is the clock deadlines are kept in: nanoseconds, 8 bytes where
// a time.Time takes 24; zero means "none".
func monotime() int64 { return reactor.Now() }

// alarm is how a lifecycle's deadlines wake its owner: a loop timer for a
// relayed session, a runtime timer for a built-in connection.
type alarm interface {
	fireAt(at int64) // fire at at (a monotime), replacing an earlier setting
	cancel()
}

// lifecycle is what every upgraded connection has, whether wsedge relays
// it to a backend (session) or serves it itself (builtinConn): its
// registration with the tracker, the keepalive schedule of its legs, the
// deadline that bounds a closing handshake, the cause it ended with, and
// the log line when it does. Its methods are called by one goroutine at a
// time: the session's loop, or under the built-in connection's mutex.
type lifecycle struct {
	srv     *Server
	cs      *connSettings // the server's settings when it opened
	route   *route        // what it was opened on (its label is made only when logged)
	client  string        // the client's address, for logs
	cause   string        // the first reason the connection began to end
	endedBy endedBy       // who began the end, and the close code involved
	endCode uint16        // (zero: none), for the metrics
	started int64
	// ticket is the connection's place under the connection limits; the
	// tracker gives it back when the connection is done.
	ticket *ticket

	// alarm runs the owner's tick at due: the next ping, a ping's
	// verdict, a write timeout, the end of the closing handshake, or
	// (a session's) the end of the client's pause for its message rate.
	alarm    alarm
	due      int64
	nextPing int64 // zero without keepalive
	closeBy  int64 // zero until a closing handshake starts
}

// newLifecycle describes a connection on route from client.
func newLifecycle(srv *Server, route *route, client string) lifecycle {
	return lifecycle{srv: srv, cs: srv.settings.Load(), route: route, client: client}
}

// start records the start and arms the first ping; the owner's tick runs
// when a calls it.
func (lc *lifecycle) start(a alarm) {
	lc.alarm = a
	lc.started = monotime()
	if lc.cs.pingInterval > 0 {
		lc.nextPing = lc.started + int64(lc.cs.pingInterval)
		lc.arm(lc.nextPing)
	}
}

// arm makes the timer fire at t at the latest; zero is ignored.
func (lc *lifecycle) arm(t int64) {
	if t == 0 || (lc.due != 0 && t >= lc.due) {
		return
	}
	lc.due = t
	lc.alarm.fireAt(t)
}

// fired is called first thing in the owner's tick: the timer is no
// longer armed.
func (lc *lifecycle) fired() { lc.due = 0 }

// pingDue reports whether the legs are to be pinged now, and schedules
// the next round.
func (lc *lifecycle) pingDue(now int64) bool {
	if lc.nextPing == 0 || now < lc.nextPing {
		return false
	}
	lc.nextPing = now + int64(lc.cs.pingInterval)
	return true
}

// rearm arms the timer for the next ping and the closing deadline.
func (lc *lifecycle) rearm() {
	lc.arm(lc.nextPing)
	lc.arm(lc.closeBy)
}

// startClosing starts the deadline of the closing handshake, once.
func (lc *lifecycle) startClosing() {
	if lc.closeBy == 0 {
		lc.closeBy = monotime() + int64(lc.cs.closeWait)
		lc.arm(lc.closeBy)
	}
}

// closing reports whether a closing handshake has started.
func (lc *lifecycle) closing() bool { return lc.closeBy != 0 }

// closeExpired reports whether the closing handshake has run out of time.
func (lc *lifecycle) closeExpired(now int64) bool { return lc.closeBy != 0 && now >= lc.closeBy }

// setEnd records the first reason the connection began to end: who
// began it, the close code involved (zero: none) and the cause logged.
func (lc *lifecycle) setEnd(by endedBy, code uint16, cause string) {
	if lc.cause == "" {
		lc.endedBy, lc.endCode, lc.cause = by, code, cause
	}
}

// countEnd counts the connection's end in the metrics, and keeps it for
// the admin page.
func (lc *lifecycle) countEnd() {
	m := lc.srv.metrics
	if m == nil {
		return
	}
	m.ended(lc.route, lc.endedBy, lc.endCode)
	m.recent.add(ClosedStatus{
		Time:     time.Now(),
		Route:    lc.route.Label(),
		Client:   lc.client,
		Duration: time.Duration(monotime() - lc.started).Round(time.Millisecond).String(),
		By:       lc.endedBy.String(),
		Code:     int(lc.endCode),
		Cause:    lc.cause,
	})
}

// stop cancels the alarm. A tick already under way may still run; the
// owner's tick checks that the connection is still open.
func (lc *lifecycle) stop() { lc.alarm.cancel() }

// logClosed logs the end of the connection with what the owner adds.
func (lc *lifecycle) logClosed(attrs ...any) {
	lc.srv.log.Info("websocket closed", append([]any{
		"route", lc.route.Label(),
		"client", lc.client,
		"duration", time.Duration(monotime() - lc.started).Round(time.Millisecond),
		"cause", lc.cause,
	}, attrs...)...)
}

// liveness is the keepalive state of one leg (RFC 6455 section 5.5.2):
// the ping outstanding, if any, and how much the leg had sent when it went
// out. Any sign of life after the ping counts as an answer: a pong, but
// also data or the peer's own ping, so a busy leg is never declared dead.
type liveness struct {
	pingSent int64 // zero: no ping outstanding
	seen     int64 // the leg's activity count when it was sent
}

// sent records a ping written at now, unless one is outstanding already.
func (lv *liveness) sent(now, activity int64) {
	if lv.pingSent == 0 {
		lv.pingSent, lv.seen = now, activity
	}
}

// verdictAt is when the outstanding ping's answer is judged, or zero.
func (lv *liveness) verdictAt(pongTimeout time.Duration) int64 {
	if lv.pingSent == 0 {
		return 0
	}
	return lv.pingSent + int64(pongTimeout)
}

// dead reports, once the pong timeout has passed since the ping, whether
// the leg stayed silent; otherwise it clears the ping so the next can be
// judged. A leg that was not being read (held back while the other leg
// could not take more, or paused for its message rate) cannot be judged:
// its answer may sit unread.
func (lv *liveness) dead(now int64, pongTimeout time.Duration, activity int64, beingRead bool) bool {
	if lv.pingSent == 0 || now < lv.pingSent+int64(pongTimeout) {
		return false
	}
	if activity == lv.seen && beingRead {
		return true
	}
	lv.pingSent = 0
	return false
}
