package proxy

import (
	"time"
)

// lifecycle is what every upgraded connection has, whether wsedge relays
// it to a backend (session) or serves it itself (builtinConn): its
// registration with the tracker, the keepalive schedule of its legs, the
// deadline that bounds a closing handshake, the cause it ended with, and
// the log line when it does. Its methods are called by one goroutine at a
// time: the session's loop, or under the built-in connection's mutex.
type lifecycle struct {
	srv     *Server
	route   string // the route's label, for logs
	client  string // the client's address, for logs
	started time.Time
	cause   string // the first reason the connection began to end

	// timer runs the owner's tick at due: the next ping, a ping's
	// verdict, a write timeout or the end of the closing handshake.
	timer    *time.Timer
	due      time.Time
	nextPing time.Time // zero without keepalive
	closeBy  time.Time // zero until a closing handshake starts
}

// start records the start and arms the first ping; tick runs when the
// timer fires (on whatever goroutine the owner arranges).
func (lc *lifecycle) start(srv *Server, route, client string, tick func()) {
	lc.srv, lc.route, lc.client = srv, route, client
	lc.started = time.Now()
	lc.timer = time.AfterFunc(time.Hour, tick)
	lc.timer.Stop()
	if srv.pingInterval > 0 {
		lc.nextPing = lc.started.Add(srv.pingInterval)
		lc.arm(lc.nextPing)
	}
}

// arm makes the timer fire at t at the latest.
func (lc *lifecycle) arm(t time.Time) {
	if t.IsZero() || (!lc.due.IsZero() && !t.Before(lc.due)) {
		return
	}
	lc.due = t
	lc.timer.Reset(time.Until(t))
}

// fired is called first thing in the owner's tick: the timer is no
// longer armed.
func (lc *lifecycle) fired() { lc.due = time.Time{} }

// pingDue reports whether the legs are to be pinged now, and schedules
// the next round.
func (lc *lifecycle) pingDue(now time.Time) bool {
	if lc.nextPing.IsZero() || now.Before(lc.nextPing) {
		return false
	}
	lc.nextPing = now.Add(lc.srv.pingInterval)
	return true
}

// rearm arms the timer for the next ping and the closing deadline.
func (lc *lifecycle) rearm() {
	lc.arm(lc.nextPing)
	lc.arm(lc.closeBy)
}

// startClosing starts the deadline of the closing handshake, once.
func (lc *lifecycle) startClosing() {
	if lc.closeBy.IsZero() {
		lc.closeBy = time.Now().Add(lc.srv.closeWait)
		lc.arm(lc.closeBy)
	}
}

// closeExpired reports whether the closing handshake has run out of time.
func (lc *lifecycle) closeExpired(now time.Time) bool {
	return !lc.closeBy.IsZero() && !now.Before(lc.closeBy)
}

func (lc *lifecycle) setCause(cause string) {
	if lc.cause == "" {
		lc.cause = cause
	}
}

// stop cancels the timer. A tick already under way may still run; the
// owner's tick checks that the connection is still open.
func (lc *lifecycle) stop() { lc.timer.Stop() }

// logClosed logs the end of the connection with what the owner adds.
func (lc *lifecycle) logClosed(attrs ...any) {
	lc.srv.log.Info("websocket closed", append([]any{
		"route", lc.route,
		"client", lc.client,
		"duration", time.Since(lc.started).Round(time.Millisecond),
		"cause", lc.cause,
	}, attrs...)...)
}

// liveness is the keepalive state of one leg (RFC 6455 section 5.5.2):
// the ping outstanding, if any, and how much the leg had sent when it went
// out. Any sign of life after the ping counts as an answer: a pong, but
// also data or the peer's own ping, so a busy leg is never declared dead.
type liveness struct {
	pingSent time.Time // zero: no ping outstanding
	seen     int64     // the leg's activity count when it was sent
}

// sent records a ping written at now, when the leg's activity count was
// activity.
func (lv *liveness) sent(now time.Time, activity int64) { lv.pingSent, lv.seen = now, activity }

// awaiting reports whether a ping is outstanding.
func (lv *liveness) awaiting() bool { return !lv.pingSent.IsZero() }

// verdictAt is when the outstanding ping's answer is judged.
func (lv *liveness) verdictAt(pongTimeout time.Duration) time.Time {
	if !lv.awaiting() {
		return time.Time{}
	}
	return lv.pingSent.Add(pongTimeout)
}

// dead reports, once the pong timeout has passed since the ping, whether
// the leg stayed silent; otherwise it clears the ping so the next can go.
// A leg that was not being read (its reader was held back while the other
// leg could not take more) cannot be judged: its answer may sit unread.
func (lv *liveness) dead(now time.Time, pongTimeout time.Duration, activity int64, beingRead bool) bool {
	if !lv.awaiting() || now.Before(lv.pingSent.Add(pongTimeout)) {
		return false
	}
	if activity == lv.seen && beingRead {
		return true
	}
	lv.pingSent = time.Time{}
	return false
}
