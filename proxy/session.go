package proxy

import (
	"net"
	"time"

	"github.com/wsedge/wsedge/internal/reactor"
	"github.com/wsedge/wsedge/upstream"
)

// session is one proxied WebSocket connection after both handshakes: a
// client leg and a backend leg attached to one event loop, which relays
// frames between them. Everything a session does happens on that loop, so
// it takes no lock; other goroutines (the keepalive timer, shutdown) post
// to the loop. Between reads a session holds no goroutine and no buffer.
type session struct {
	lifecycle
	timer   reactor.Timer // the lifecycle's alarm, on the loop
	loop    *reactor.Loop
	up      *upstream.Conn
	rules   relayRules
	client  leg
	backend leg
	ended   bool
}

// leg is one side of a session: the peer it talks to, and what flows from
// that peer to the other leg. An idle session is mostly two of these, so
// they are kept small.
type leg struct {
	ss   *session
	peer *leg
	conn *reactor.Conn
	// in follows the frames this leg sends.
	in scanner
	// bytes read from this leg; also its activity count for keepalive.
	bytes int64
	live  liveness
	// blockedSince (monotime) is when output to this leg began to wait
	// for the socket; zero while it takes everything.
	blockedSince int64

	// The closing handshake (RFC 6455 section 7).
	pendingClose []byte // a close frame's payload to write at the next frame boundary
	failure      string // why the leg died or failed
	gotClose     uint16 // the code of the close frame this leg sent, once it has
	owed         uint16 // the leg broke the protocol: the code it gets after the other leg answers
	closeSent    bool   // a close frame was written to this leg
	pendingPing  bool   // a keepalive ping to write at the next frame boundary
	dead         bool   // the leg's connection is gone
	// finished: the peer ended its side after its close frame (a TCP
	// half-close, an HTTP/2 client's END_STREAM): nothing more is read
	// from it, but it is written to until the closing handshake is over.
	finished bool
}

// isClient tells the client leg from the backend leg.
func (l *leg) isClient() bool { return l == &l.ss.client }

// side names the leg's peer as the one that ended a connection.
func (l *leg) side() endedBy {
	if l.isClient() {
		return endedByClient
	}
	return endedByBackend
}

// direction is the traffic direction of what this leg sends.
func (l *leg) direction() int {
	if l.isClient() {
		return toBackend
	}
	return toClient
}

// name names the leg in logs and close reasons.
func (l *leg) name() string {
	if l.isClient() {
		return "client"
	}
	return "backend"
}

// masked reports whether frames to this leg are masked: wsedge is the
// backend's client (RFC 6455 section 5.3).
func (l *leg) masked() bool { return !l.isClient() }

// lostCode is what this leg is sent when the other one fails.
func (l *leg) lostCode() int {
	if l.isClient() {
		return closeBackendLost
	}
	return closeClientLost
}

// newSession builds the session of a client on rt and the backend
// connection up; deflate says whether the two negotiated
// permessage-deflate.
func (s *Server) newSession(rt *route, clientAddr string, up *upstream.Conn, deflate bool) *session {
	loop := s.relay.Next()
	ss := &session{lifecycle: newLifecycle(s, rt, clientAddr), loop: loop, up: up}
	ss.rules = relayRules{maxMessage: ss.cs.maxMessageBytes, keys: s.maskKeys[loop], remask: s.cfg.Relay.Remask, deflate: deflate}
	// The client's budget is read from the route it opens on: a reload
	// changes it for new connections only.
	ss.client = leg{ss: ss, peer: &ss.backend, in: scanner{rules: &ss.rules, fromClient: true, rate: newMessageBudget(&rt.messageRate)}}
	ss.backend = leg{ss: ss, peer: &ss.client, in: scanner{rules: &ss.rules}}
	return ss
}

// start registers the session and hands it, with the client's
// connection and what the client sent behind its handshake (early), to
// its loop; the request goroutine returns, so net/http drops what it held
// for the request.
func (ss *session) start(clientConn net.Conn, early []byte) {
	if !ss.srv.tracker.add(ss) {
		ss.refuse(clientConn)
		return
	}
	ss.loop.Post(func() { ss.attach(clientConn, early) })
	if ss.srv.orphaned(ss.route, ss.up.Backend) {
		ss.goAway(&routeGoneFarewell)
	}
}

// attach, on the loop, takes both connections over, relays what each
// peer sent right behind its handshake (read with it: the backend's
// with its 101, the client's by net/http with its request), and reads
// what arrived since.
func (ss *session) attach(clientConn net.Conn, clientEarly []byte) {
	client, err := ss.loop.Attach(clientConn, &ss.client)
	if err != nil {
		ss.up.NetConn.Close()
		ss.attachFailed(err)
		return
	}
	backend, err := ss.loop.Attach(ss.up.NetConn, &ss.backend)
	if err != nil {
		client.Close()
		ss.attachFailed(err)
		return
	}
	ss.client.conn, ss.backend.conn = client, backend
	// The loop's key source makes the ping token: it is the loop's alone.
	a, b := ss.rules.keys.next(), ss.rules.keys.next()
	copy(ss.rules.pingToken[:4], a[:])
	copy(ss.rules.pingToken[4:], b[:])
	ss.loop.InitTimer(&ss.timer, ss.alarmed)
	ss.lifecycle.start(ss)
	backendEarly := ss.up.Early
	ss.up.Early = nil
	ss.relayEarly(&ss.backend, backendEarly)
	ss.relayEarly(&ss.client, clientEarly)
	ss.pump(&ss.backend)
	ss.pump(&ss.client)
}

// relayEarly relays what src sent right behind its handshake as if just
// read. It is at most a handshake reader's buffer (a few KiB), far less
// than the loop's.
func (ss *session) relayEarly(src *leg, early []byte) {
	if len(early) == 0 || ss.ended {
		return
	}
	if rate := src.in.rate; rate != nil {
		rate.now = monotime()
	}
	buf, head := ss.loop.Buffer(), ss.loop.Headroom()
	n := copy(buf[head:], early)
	src.bytes += int64(n)
	ss.receivedCounted(src, buf, head, n)
}

func (ss *session) attachFailed(err error) {
	ss.ended = true
	ss.up.Release()
	ss.srv.log.Warn("websocket dropped: relay cannot take the connection", "route", ss.route.Label(), "err", err)
	ss.srv.tracker.done(ss)
}

// refuse closes a session that arrived after draining began; it runs on
// the request goroutine, before any loop has the connections.
func (ss *session) refuse(clientConn net.Conn) {
	deadline := time.Now().Add(ss.cs.closeWait)
	for _, c := range []struct {
		conn    net.Conn
		masked  bool
		payload []byte
	}{{clientConn, false, shutdownFarewell.client}, {ss.up.NetConn, true, shutdownFarewell.backend}} {
		c.conn.SetWriteDeadline(deadline)
		c.conn.Write(closeFrame(c.payload, c.masked, nil))
		c.conn.Close()
	}
	ss.up.Release()
}

// Readable is called by the loop when the leg's connection has data.
func (l *leg) Readable(*reactor.Conn) { l.ss.pump(l) }

// Writable is called by the loop when output that waited for the leg's
// socket has gone, or could not be written.
func (l *leg) Writable(*reactor.Conn) { l.ss.drained(l) }

// finish ends the session once both legs are done (or dropped): closes
// the connections, releases the backend and logs.
func (ss *session) finish() {
	if ss.ended {
		return
	}
	ss.ended = true
	ss.stop()
	for _, l := range ss.legs() {
		l.conn.Close()
		l.in.releaseCarry()
	}
	rate := ss.client.in.rate
	rate.release()
	ss.up.Release()
	attrs := []any{
		"backend", ss.up.URL,
		"client_messages", ss.client.in.messages, "client_bytes", ss.client.bytes,
		"backend_messages", ss.backend.in.messages, "backend_bytes", ss.backend.bytes,
		"client_close", int(ss.client.gotClose), "backend_close", int(ss.backend.gotClose),
	}
	if rate != nil {
		attrs = append(attrs, "client_paused", rate.pauses)
	}
	ss.logClosed(attrs...)
	ss.countEnd()
	ss.srv.tracker.done(ss)
}

func (ss *session) legs() [2]*leg { return [2]*leg{&ss.client, &ss.backend} }

// fireAt and cancel make the session the alarm of its own lifecycle: its
// tick runs on the loop.
func (ss *session) fireAt(at int64) { ss.loop.SetTimer(&ss.timer, at) }
func (ss *session) cancel()         { ss.loop.StopTimer(&ss.timer) }

// alarmed runs when the session's timer fires: the lifecycle's tick
// (keepalive, timeouts, the closing deadline), then the end of the
// client's pause for its message rate, if that is due. The tick comes
// first, so a ping's verdict that falls due with the end of a pause still
// finds the client paused, not silent.
func (ss *session) alarmed() {
	ss.tick()
	ss.resumeIfDue()
}

// goAway closes both legs with f's close frames.
func (ss *session) goAway(f *farewell) { ss.loop.Post(func() { ss.goAwayOnLoop(f) }) }

// servedBy returns the route the session was opened on and its backend.
func (ss *session) servedBy() (*route, *upstream.Backend) { return ss.route, ss.up.Backend }

// forceClose drops both connections at once.
func (ss *session) forceClose() { ss.loop.Post(ss.finish) }
