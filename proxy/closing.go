package proxy

import (
	"github.com/wsedge/wsedge/internal/wsframe"
)

// Close codes wsedge sends on its own behalf (RFC 6455 section 7.4.1).
const (
	// closeClientLost goes to the backend when the client's leg fails
	// (reset, ping timeout, oversized message, protocol error): 1001 Going
	// Away, what a browser sends when it leaves a page, which every
	// backend already handles.
	closeClientLost = wsframe.CloseGoingAway
	// closeBackendLost goes to the client when the backend's leg fails:
	// 1011, the server side hit an unexpected condition. Clients may
	// reconnect; the reason says what happened.
	closeBackendLost = wsframe.CloseInternalError
	// closeShutdown goes to both legs when wsedge shuts down.
	closeShutdown = wsframe.CloseGoingAway
)

// farewell is how wsedge ends a connection of its own accord: the close
// frame each leg gets and the cause logged.
type farewell struct {
	cause   string
	client  []byte // close payload for the client
	backend []byte // close payload for the backend (proxied sessions)
}

// code is the close code the client gets, for the metrics.
func (f *farewell) code() uint16 { return uint16(f.client[0])<<8 | uint16(f.client[1]) }

var (
	// shutdownFarewell: wsedge is stopping.
	shutdownFarewell = farewell{
		cause:   "server shutting down",
		client:  closePayload(closeShutdown, "server shutting down"),
		backend: closePayload(closeShutdown, "server shutting down"),
	}
	// routeGoneFarewell: a reload removed the connection's route, or its
	// backend from the route's pool. The client gets 1012 Service
	// Restart (IANA registry; RFC 6455 section 7.4.2), which clients
	// treat as "reconnect later"; the backend, as when a client leaves,
	// 1001.
	routeGoneFarewell = farewell{
		cause:   "route or backend removed by a reload",
		client:  closePayload(wsframe.CloseServiceRestart, "route removed by a reload"),
		backend: closePayload(closeClientLost, "route removed by a reload"),
	}
)

// closePayload formats a close frame's payload, cutting the reason to fit
// a control frame (at a UTF-8 boundary: reasons must be valid UTF-8).
func closePayload(code int, reason string) []byte {
	return wsframe.AppendClosePayload(make([]byte, 0, wsframe.MaxControlPayload), code, reason)
}

// echoPayload is the close wsedge answers a leg's close with itself (when
// the other leg cannot): the leg's own code (RFC 6455 section 5.5.1), or
// no status for a close without one (1005 is never sent).
func echoPayload(code uint16) []byte {
	if code == wsframe.CloseNoStatus {
		return []byte{}
	}
	return closePayload(int(code), "")
}

// A session ends through its closing handshakes (RFC 6455 section 7):
//
//   - A leg's close frame is relayed verbatim to the other leg, whose
//     answer is relayed back: each peer closes with the other.
//   - A leg that breaks the protocol (or sends a message over the limit)
//     is not read any more. The other leg gets a close with its lost code,
//     and until that leg answers, what it still sends flows to the failed
//     leg, as it would if the peer had failed the connection itself; then
//     the failed leg gets its close code (1002, 1007 or 1009).
//   - A leg that dies (reset, end of stream, ping or write timeout) is
//     dropped, and the other leg gets a close with its lost code.
//   - Shutdown sends both legs 1001.
//
// Every handshake is bounded by closeWait; when it runs out, a leg still
// waiting gets its own close back, and both connections are dropped.

// closeReceived handles a valid close frame from src; frame is the
// frame itself as src sent it (empty when src was already discarding).
func (ss *session) closeReceived(src *leg, code int, frame []byte) {
	if src.gotClose != 0 {
		return
	}
	src.gotClose = uint16(code)
	ss.setEnd(src.side(), src.gotClose, src.name()+" closed")
	ss.startClosing()
	dst := src.peer
	switch {
	case dst.owed != 0 && !dst.closeSent:
		// dst broke the protocol; src has answered the close it got for
		// that, so dst gets its own failure now.
		ss.queueClose(dst, closePayload(int(dst.owed), dst.failure))
	case len(frame) > 0 && !dst.dead && !dst.closeSent && dst.pendingClose == nil:
		ss.forward(dst, frame)
		dst.closeSent = true
	case src.owed != 0:
		// src broke the protocol and closes before dst has answered:
		// it gets its failure at once.
		ss.queueClose(src, closePayload(int(src.owed), src.failure))
	default:
		// dst cannot take src's close (it is gone or already closed):
		// answer src ourselves.
		ss.queueClose(src, echoPayload(src.gotClose))
	}
	ss.doneIfFinished()
}

// legFailed handles src breaking the protocol, with the code it is to be
// closed with and what was wrong.
func (ss *session) legFailed(src *leg, code int, reason string) {
	src.owed, src.failure = uint16(code), reason
	ss.setEnd(src.side(), src.owed, src.name()+" "+failureKind(code))
	ss.startClosing()
	ss.srv.log.Debug("websocket peer broke the protocol", "route", ss.route.Label(), "leg", src.name(), "close", code, "reason", reason)
	dst := src.peer
	if dst.dead || dst.closeSent || dst.pendingClose != nil {
		ss.queueClose(src, closePayload(code, reason))
		return
	}
	ss.queueClose(dst, closePayload(dst.lostCode(), src.name()+" "+failureKind(code)))
}

// failureKind names a failure by its close code, for the other leg.
func failureKind(code int) string {
	if code == wsframe.CloseMessageTooBig {
		return "message too big"
	}
	return "protocol error"
}

// legLost drops l (its connection is gone or given up) and closes the
// other leg with its lost code.
func (ss *session) legLost(l *leg, reason string) {
	if l.dead || ss.ended {
		return
	}
	l.dead, l.failure = true, reason
	l.conn.Close()
	ss.setEnd(l.side(), 0, l.name()+" "+reason)
	ss.startClosing()
	o := l.peer
	switch {
	case o.dead || o.closeSent:
	case l.in.midFrame():
		// l died inside a frame it was sending o: o cannot be sent a
		// close frame after part of a frame, so o is dropped too (its
		// peer sees the connection end without a close, 1006).
		ss.legLost(o, "connection lost: "+l.name()+" ended inside a frame")
		return
	case o.pendingClose != nil:
		ss.inject(o)
	case o.owed != 0:
		ss.queueClose(o, closePayload(int(o.owed), o.failure))
	default:
		ss.queueClose(o, closePayload(o.lostCode(), l.name()+" "+reason))
	}
	ss.doneIfFinished()
}

// queueClose sends l a close frame with payload: now if what goes to l is
// between frames, else once the frame under way has passed.
func (ss *session) queueClose(l *leg, payload []byte) {
	if l.dead || l.closeSent || l.pendingClose != nil {
		return
	}
	if !l.atBoundary() {
		l.pendingClose = payload
		return
	}
	ss.writeClose(l, payload)
}

func (ss *session) writeClose(l *leg, payload []byte) {
	l.closeSent = true
	ss.write(l, closeFrame(payload, l.masked(), ss.rules.keys))
}

// goAwayOnLoop starts the closing handshake on both legs with f's close
// frames.
func (ss *session) goAwayOnLoop(f *farewell) {
	if ss.ended {
		return
	}
	ss.setEnd(endedByWsedge, f.code(), f.cause)
	ss.startClosing()
	for _, l := range ss.legs() {
		payload := f.backend
		if l.isClient() {
			payload = f.client
		}
		ss.queueClose(l, payload)
	}
}

// doneIfFinished finishes the session once both legs are done, and
// reports whether it has ended.
func (ss *session) doneIfFinished() bool {
	if !ss.ended && ss.client.done() && ss.backend.done() {
		ss.finish()
	}
	return ss.ended
}

// done reports whether l's closing handshake is over, once the socket has
// taken what was written to it: l is gone, or it has sent its close and
// been sent one, or it broke the protocol and has been sent its failure (a
// failed connection is closed without waiting for an answer, RFC 6455
// section 7.1.7).
func (l *leg) done() bool {
	return l.dead || (l.closeSent && (l.gotClose != 0 || l.owed != 0) && l.conn.Buffered() == 0)
}

// tick runs when the session's timer fires: keepalive verdicts and pings,
// write timeouts, and the end of a closing handshake.
func (ss *session) tick() {
	if ss.ended {
		return
	}
	ss.fired()
	now := monotime()
	s := ss.cs
	for _, l := range ss.legs() {
		switch {
		case l.dead:
		case l.live.dead(now, s.pongTimeout, l.bytes, !ss.heldBack(l)):
			ss.srv.metrics.pingTimeout(ss.route, l.name())
			ss.legLost(l, "ping timeout")
		case s.writeTimeout > 0 && l.blockedSince != 0 && now-l.blockedSince >= int64(s.writeTimeout):
			ss.legLost(l, "write timeout")
		}
	}
	if ss.ended {
		return
	}
	if ss.closeExpired(now) {
		ss.closeTimedOut()
		return
	}
	if ss.pingDue(now) && !ss.closing() {
		for _, l := range ss.legs() {
			if !l.dead && !l.closeSent && l.pendingClose == nil {
				ss.ping(l, now)
			}
		}
	}
	ss.rearm()
	for _, l := range ss.legs() {
		if l.dead {
			continue
		}
		ss.arm(l.live.verdictAt(s.pongTimeout))
		if s.writeTimeout > 0 && l.blockedSince != 0 {
			ss.arm(l.blockedSince + int64(s.writeTimeout))
		}
	}
}

// closeTimedOut ends a closing handshake that took too long: a leg still
// waiting for an answer to its close gets its own close back (RFC 6455
// section 5.5.1), then both connections are dropped.
func (ss *session) closeTimedOut() {
	for _, l := range ss.legs() {
		if !l.dead && l.gotClose != 0 && !l.closeSent && l.atBoundary() {
			ss.writeClose(l, echoPayload(l.gotClose))
		}
	}
	ss.finish()
}
