package proxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/routes"
	"github.com/wsedge/wsedge/upstream"
)

// leg is one side of a proxied connection.
type leg struct {
	name     string // "client" or "backend", for logs and close reasons
	conn     *websocket.Conn
	lostCode int // sent to this leg when the other leg dies
	ka       *keepalive
	in       messageSource // the message being read from this leg

	// Written only by the pump reading this leg; read after both pumps
	// have returned.
	messages, bytes int64

	// Guarded by session.mu.
	closeSent bool                  // we sent this leg a close frame
	dead      bool                  // the leg's connection is unusable
	gotClose  *websocket.CloseError // the close frame this leg sent us
	failure   error                 // why the leg died
}

// messageSource reads the current message of a leg and remembers a read
// error, so the pump can tell a failing source from a failing destination
// once forward returns. It also tells keepalive when the reader is waiting
// on the peer (only then may silence count against it).
type messageSource struct {
	r  io.Reader
	ka *keepalive
	// err is the last read error other than io.EOF.
	err error
}

func (m *messageSource) Read(p []byte) (int, error) {
	m.ka.setWaiting(true)
	n, err := m.r.Read(p)
	m.ka.setWaiting(false)
	if err != nil && err != io.EOF {
		m.err = err
	}
	return n, err
}

// session is one proxied WebSocket connection: a client leg and a backend
// leg, a pump per direction, and the closing handshake between them.
//
// Each leg's only data writer is the pump reading the other leg; close
// frames from elsewhere (shutdown, the close deadline) and keepalive pings
// go through WriteControl, which gorilla allows concurrently.
type session struct {
	srv     *Server
	route   *routes.Matched
	up      *upstream.Conn
	client  leg
	backend leg
	started time.Time

	pumping  atomic.Int32 // pumps still running
	mu       sync.Mutex
	cause    string // the first reason the session began to end
	deadline closeDeadline
}

func (s *Server) newSession(route *routes.Matched, clientConn *websocket.Conn, up *upstream.Conn) *session {
	ss := &session{srv: s, route: route, up: up, started: time.Now()}
	ss.client = leg{name: "client", conn: clientConn, lostCode: closeBackendLost}
	ss.backend = leg{name: "backend", conn: up.Conn, lostCode: closeClientLost}
	for _, l := range []*leg{&ss.client, &ss.backend} {
		s.prepareConn(l.conn)
		// A close frame is relayed to the other leg and answered by the
		// other peer's reply, not answered here at once (gorilla's
		// default handler would).
		l.conn.SetCloseHandler(func(int, string) error { return nil })
		l.ka = newKeepalive(l.conn, s.cfg.Keepalive, s.closeWait)
		l.in.ka = l.ka
	}
	return ss
}

// start registers the session and pumps both directions, each on its own
// goroutine, so the request goroutine can return and net/http can drop
// what it held for the request (its buffers, its deep stack) for the whole
// life of the socket. The pump that ends last finishes the session; the
// tracker, which drain waits on, owns both.
func (ss *session) start() {
	if !ss.srv.tracker.add(ss) {
		ss.refuse()
		return
	}
	ss.client.ka.start()
	ss.backend.ka.start()
	ss.pumping.Store(2)
	go ss.pumpThenFinish(&ss.client, &ss.backend)
	go ss.pumpThenFinish(&ss.backend, &ss.client)
}

func (ss *session) pumpThenFinish(src, dst *leg) {
	ss.pump(src, dst)
	// The atomic counter orders both pumps' work before finish reads it.
	if ss.pumping.Add(-1) == 0 {
		ss.finish()
		ss.srv.tracker.done(ss)
	}
}

// pump forwards messages read from src to dst, one at a time (see forward
// for how). It returns when src has ended: a close frame or an error.
func (ss *session) pump(src, dst *leg) {
	forwarding := true
	for {
		src.ka.setWaiting(true)
		mt, r, err := src.conn.NextReader()
		src.ka.setWaiting(false)
		if err != nil {
			ss.legEnded(src, dst, err)
			return
		}
		src.ka.touch()
		src.messages++
		if !forwarding {
			n, err := io.Copy(io.Discard, r)
			src.bytes += n
			if err != nil {
				ss.legEnded(src, dst, err)
				return
			}
			continue
		}
		n, err := ss.forward(mt, r, src, dst)
		src.bytes += n
		switch {
		case err == nil:
		case src.in.err != nil:
			ss.legEnded(src, dst, src.in.err)
			return
		case errors.Is(err, websocket.ErrCloseSent):
			// We already sent dst a close frame; it takes no more data.
			forwarding = false
		default:
			// dst is gone. Keep reading src so its close or its death is
			// seen, and the session ends through legEnded.
			ss.legBroken(dst, err)
			forwarding = false
		}
	}
}

// forward copies one message from src to dst. A message that fits in a
// chunk is read whole and written with one WriteMessage (to a client, that
// path allocates nothing); a larger one streams through chunk by chunk, so
// it never sits whole in the proxy.
func (ss *session) forward(mt int, r io.Reader, src, dst *leg) (int64, error) {
	src.in.r, src.in.err = r, nil
	if wt := ss.srv.writeTimeout; wt > 0 {
		dst.conn.SetWriteDeadline(ss.srv.clock.deadline(wt))
	}
	chunk := ss.srv.chunks.Get().(*[]byte)
	defer ss.srv.chunks.Put(chunk)
	buf := *chunk
	n, err := io.ReadFull(&src.in, buf)
	switch err {
	case io.EOF, io.ErrUnexpectedEOF: // the whole message is in buf
		return int64(n), dst.conn.WriteMessage(mt, buf[:n])
	case nil: // larger than a chunk
	default:
		return int64(n), err
	}
	w, err := dst.conn.NextWriter(mt)
	if err != nil {
		return int64(n), err
	}
	total := int64(n)
	for {
		if _, err := w.Write(buf[:n]); err != nil {
			return total, err
		}
		n, err = io.ReadFull(&src.in, buf)
		total += int64(n)
		switch err {
		case nil:
			continue
		case io.EOF, io.ErrUnexpectedEOF:
			if _, err := w.Write(buf[:n]); err != nil {
				return total, err
			}
			return total, w.Close()
		}
		// Leave w unfinished: closing it would send the final frame and
		// deliver a truncated message as if it were complete. The close
		// frame that follows ends the message on the receiver's side.
		return total, err
	}
}

// legEnded handles the end of src: a close frame is relayed to dst
// verbatim (RFC 6455 section 7.1.2, the other peer's reply completes both
// handshakes); a dead src gets dst a close with dst's lost code.
func (ss *session) legEnded(src, dst *leg, err error) {
	var payload []byte
	ss.mu.Lock()
	if ce, ok := isCloseFrame(err); ok {
		src.gotClose = ce
		ss.setCauseLocked(src.name + " closed")
		if !dst.closeSent && !dst.dead {
			payload = relayClosePayload(ce)
		}
	} else {
		if !src.dead {
			src.dead, src.failure = true, err
		}
		reason := src.name + " " + lostReason(src, src.failure)
		ss.setCauseLocked(reason)
		if !dst.closeSent && !dst.dead {
			payload = closePayload(dst.lostCode, reason)
		}
	}
	if payload != nil {
		dst.closeSent = true
	}
	ss.mu.Unlock()
	ss.deadline.arm(ss.srv.closeWait, ss.closeTimedOut)
	if payload != nil {
		ss.writeClose(dst, payload)
	}
}

// legBroken handles a failed write to l: it is unusable, so its socket is
// closed, which ends l's reader and sends the session through legEnded.
func (ss *session) legBroken(l *leg, err error) {
	ss.mu.Lock()
	if !l.dead {
		l.dead, l.failure = true, err
	}
	ss.mu.Unlock()
	l.conn.Close()
}

// writeClose sends a close frame to l, or drops l if it cannot take one.
func (ss *session) writeClose(l *leg, payload []byte) {
	if err := l.conn.WriteControl(websocket.CloseMessage, payload, time.Now().Add(ss.srv.closeWait)); err != nil {
		l.conn.Close()
	}
}

// closeTimedOut ends a closing handshake that took too long: a leg still
// waiting for an answer to its close gets its own close echoed (RFC 6455
// section 5.5.1), then both sockets are closed.
func (ss *session) closeTimedOut() {
	var replies []*leg
	ss.mu.Lock()
	for _, l := range []*leg{&ss.client, &ss.backend} {
		if l.gotClose != nil && !l.closeSent && !l.dead {
			l.closeSent = true
			replies = append(replies, l)
		}
	}
	ss.mu.Unlock()
	for _, l := range replies {
		ss.writeClose(l, relayClosePayload(l.gotClose))
	}
	ss.forceClose()
}

// goAway closes both legs with 1001 Going Away for shutdown.
func (ss *session) goAway() {
	var targets []*leg
	ss.mu.Lock()
	ss.setCauseLocked("server shutting down")
	for _, l := range []*leg{&ss.client, &ss.backend} {
		if !l.closeSent && !l.dead {
			l.closeSent = true
			targets = append(targets, l)
		}
	}
	ss.mu.Unlock()
	ss.deadline.arm(ss.srv.closeWait, ss.closeTimedOut)
	for _, l := range targets {
		ss.writeClose(l, closePayload(closeShutdown, "server shutting down"))
	}
}

// refuse closes a session that arrived after draining began.
func (ss *session) refuse() {
	payload := closePayload(closeShutdown, "server shutting down")
	for _, l := range []*leg{&ss.client, &ss.backend} {
		ss.writeClose(l, payload)
		l.conn.Close()
	}
	ss.up.Release()
}

func (ss *session) forceClose() {
	ss.client.conn.Close()
	ss.backend.conn.Close()
}

func (ss *session) setCauseLocked(cause string) {
	if ss.cause == "" {
		ss.cause = cause
	}
}

// finish runs once both pumps have returned.
func (ss *session) finish() {
	ss.deadline.stop()
	ss.client.ka.stop()
	ss.backend.ka.stop()
	ss.forceClose()
	ss.up.Release()
	ss.srv.log.Info("websocket closed",
		"route", ss.route.Route.Label(),
		"backend", ss.up.URL,
		"client", ss.client.conn.RemoteAddr().String(),
		"duration", time.Since(ss.started).Round(time.Millisecond),
		"client_messages", ss.client.messages, "client_bytes", ss.client.bytes,
		"backend_messages", ss.backend.messages, "backend_bytes", ss.backend.bytes,
		"client_close", closeCodeOf(ss.client.gotClose), "backend_close", closeCodeOf(ss.backend.gotClose),
		"cause", ss.cause)
}

func closeCodeOf(ce *websocket.CloseError) int {
	if ce == nil {
		return 0
	}
	return ce.Code
}

// lostReason says in a few words why a leg died, for the close reason sent
// to the other leg and for the log.
func lostReason(l *leg, err error) string {
	var ne net.Error
	switch {
	case l.ka.timedOut():
		return "ping timeout"
	case errors.Is(err, websocket.ErrReadLimit):
		return "message too big"
	case errors.As(err, &ne) && ne.Timeout():
		return "write timeout"
	case errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "connection lost"
	}
	if _, ok := err.(*websocket.CloseError); ok {
		return "connection lost" // gorilla's 1006 for an abrupt EOF
	}
	return "protocol error"
}
