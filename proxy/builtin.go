package proxy

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/upstream"
)

// builtinConn is a client connection served by a built-in handler. The
// handler's goroutine reads and writes it through gorilla; the lifecycle it
// shares with proxied sessions (keepalive, the close deadline, drain with
// 1001, the tracker, the log) runs from its timer and from shutdown, under
// mu.
type builtinConn struct {
	lifecycle
	mu    sync.Mutex
	ws    *websocket.Conn
	peer  *activityConn
	live  liveness
	ended bool
}

// serveBuiltin lets the handler refuse the request before the upgrade
// (a tail of a missing file is a 404), then hands it the connection. The
// handler opens nothing (a tail's file) until every check has passed (the
// route's Origin policy ran before: a refused page learns nothing, not
// even whether a file exists), and what it opened is released if the
// upgrade then fails.
func (s *Server) serveBuiltin(w http.ResponseWriter, r *http.Request, rt *route, h upstream.Handler, params httprouter.Params) {
	start := time.Now()
	admitted, tk, err := s.admitWebSocket(r, rt)
	if err != nil {
		s.writeError(w, r, rt, err)
		return
	}
	r = admitted
	defer func() { s.tracker.release(tk) }() // nil once a connection carries it
	session, err := h.Open(r, params)
	if err != nil {
		s.writeError(w, r, rt, err)
		return
	}
	hj := &activityHijacker{ResponseWriter: w}
	gr := r // the request gorilla upgrades
	if isExtendedConnect(r) {
		hj.h2, gr = r, asHTTP1Upgrade(r)
	}
	upgrader := s.builtinUpgrader
	// permessage-deflate with the client, if the route allows it: the
	// handler's messages are then inflated as read and deflated as
	// written (gorilla compresses every write on such a connection).
	upgrader.EnableCompression = rt.Compresses()
	ws, err := upgrader.Upgrade(hj, gr, w.Header()) // wsedge's own (Strict-Transport-Security)
	if err != nil {
		session.Abandon()
		s.log.Debug("client upgrade failed", "route", rt.Label(), "client", r.RemoteAddr, "err", err)
		return
	}
	hj.conn.count(rt.traffic)
	bc := &builtinConn{lifecycle: newLifecycle(s, rt, r.RemoteAddr), ws: ws, peer: hj.conn}
	bc.ticket, tk = tk, nil
	if bc.cs.maxMessageBytes > 0 {
		ws.SetReadLimit(bc.cs.maxMessageBytes)
	}
	ws.SetCloseHandler(bc.clientClosed)
	if !s.tracker.add(bc) {
		bc.sendClose(shutdownFarewell.client)
		ws.Close()
		return
	}
	bc.mu.Lock()
	bc.start(newRuntimeAlarm(bc.tick))
	bc.mu.Unlock()
	if s.orphaned(rt, nil) {
		bc.goAway(&routeGoneFarewell)
	}
	s.metrics.upgraded(rt, start)
	s.log.Info("websocket opened", append([]any{"route", rt.Label(), "handler", rt.Handler, "client", r.RemoteAddr,
		"subprotocol", ws.Subprotocol(), "handshake", time.Since(start).Round(time.Microsecond)}, queryAttrs(r)...)...)
	// Served on a goroutine of its own, for the reason session.start
	// gives; the tracker owns it.
	go bc.serve(session)
	if hj.stream != nil {
		hj.stream.wait() // the stream lives as long as this handler
	}
}

func (bc *builtinConn) serve(session upstream.Session) {
	session.Serve(bc.ws)
	bc.mu.Lock()
	bc.ended = true
	bc.stop()
	bc.setEnd(endedByBackend, 0, "handler finished")
	bc.mu.Unlock()
	bc.ws.Close()
	if rate := bc.peer.rate.Load(); rate != nil {
		// Serve has returned, and with it every read: the budget is
		// this goroutine's.
		rate.release()
		bc.logClosed("client_paused", rate.pauses)
	} else {
		bc.logClosed()
	}
	bc.countEnd()
	bc.srv.tracker.done(bc)
}

// start starts the lifecycle, and puts the client's reads under the
// route's client_message_rate (issue 10) before the handler reads. It
// stands in for lifecycle.start, which it calls.
func (bc *builtinConn) start(a alarm) {
	bc.peer.limit(bc)
	bc.lifecycle.start(a)
}

// tick runs when the timer fires: the keepalive verdict and ping, and the
// end of a closing handshake.
func (bc *builtinConn) tick() {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.ended {
		return
	}
	bc.fired()
	now := monotime()
	activity := bc.peer.reads.Load()
	switch {
	case bc.live.dead(now, bc.cs.pongTimeout, activity, bc.peer.waiting.Load()):
		bc.srv.metrics.pingTimeout(bc.route, "client")
		bc.setEnd(endedByClient, 0, "client ping timeout")
		bc.peer.Close() // the handler's read fails and Serve returns
		return
	case bc.closeExpired(now):
		bc.peer.Close()
		return
	}
	if bc.pingDue(now) && !bc.closing() {
		bc.live.sent(now, activity)
		// A failed ping needs no handling: the handler's read fails too.
		bc.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(bc.cs.closeWait))
	}
	bc.rearm()
	bc.arm(bc.live.verdictAt(bc.cs.pongTimeout))
}

// goAway sends f's close frame; the handler's read ends with the client's
// answer, or the close deadline drops the connection.
func (bc *builtinConn) goAway(f *farewell) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.ended || bc.closing() { // one close frame: a second would fail the connection
		return
	}
	bc.setEnd(endedByWsedge, f.code(), f.cause)
	bc.startClosing()
	bc.sendClose(f.client)
}

// clientClosed is the connection's close handler: it records the client's
// close, then answers it as gorilla's default handler does (its code,
// none for a close without one), or with 1002 for a close whose payload
// was one byte, which gorilla reads as "no status" (RFC 6455 section
// 5.5.1: a close body is empty or starts with a 2-byte code).
func (bc *builtinConn) clientClosed(code int, _ string) error {
	answer, cause := websocket.FormatCloseMessage(code, ""), "client closed"
	if bc.peer.in.oneByteClose {
		code, cause = websocket.CloseProtocolError, "client protocol error"
		answer = websocket.FormatCloseMessage(code, "close payload of one byte")
	}
	bc.mu.Lock()
	bc.setEnd(endedByClient, uint16(code), cause)
	bc.mu.Unlock()
	bc.ws.WriteControl(websocket.CloseMessage, answer, time.Now().Add(bc.cs.closeWait))
	return nil
}

// servedBy returns the route the connection was opened on; a built-in has
// no backend.
func (bc *builtinConn) servedBy() (*route, *upstream.Backend) { return bc.route, nil }

func (bc *builtinConn) sendClose(payload []byte) {
	if err := bc.ws.WriteControl(websocket.CloseMessage, payload, time.Now().Add(bc.cs.closeWait)); err != nil {
		bc.peer.Close()
	}
}

func (bc *builtinConn) forceClose() { bc.peer.Close() }

// runtimeAlarm is a lifecycle alarm on a runtime timer: the tick runs on
// a goroutine of the timer's.
type runtimeAlarm struct{ t *time.Timer }

func newRuntimeAlarm(tick func()) runtimeAlarm {
	t := time.AfterFunc(time.Hour, tick)
	t.Stop()
	return runtimeAlarm{t}
}

func (a runtimeAlarm) fireAt(at int64) { a.t.Reset(time.Duration(at - monotime())) }
func (a runtimeAlarm) cancel()         { a.t.Stop() }

// activityConn is a built-in connection's socket, counting what the client
// sends: any frame, data or control, is a sign of life for keepalive.
// With metrics, it also counts the messages and bytes each way, once the
// handshake is over (count). On a route with a client_message_rate, it
// keeps the client to it (limit).
type activityConn struct {
	net.Conn
	reads   atomic.Int64 // bytes read from the client
	waiting atomic.Bool  // a read is waiting for the client

	// traffic, if set, gets the frames read (gorilla's one reader) and
	// written (gorilla serializes its writers) as in and out count them.
	traffic *traffic
	in, out frameCounter
	// rate is the client's budget, if any: set before the handler reads,
	// and read by Close from any goroutine.
	rate atomic.Pointer[builtinBudget]
	// held gathers writes for a handler that asks (see heldWrites).
	held heldWrites
}

// builtinShard is the traffic shard built-in connections count in: they
// run on goroutines of their own, not on the relay's loops, and a route
// is a built-in's or a backend's, so no loop writes its counters.
const builtinShard = 0

// count starts counting the connection's frames into t, after the
// handshake and before any frame (t may be nil).
func (c *activityConn) count(t *traffic) { c.traffic = t }

func (c *activityConn) Read(p []byte) (int, error) {
	if b := c.rate.Load(); b != nil {
		return c.readLimited(b, p)
	}
	n, err := c.readSocket(p)
	if n > 0 {
		c.counted(c.in.feed(p[:n]), n) // also for oneByteClose, metrics or not
	}
	return n, err
}

// readSocket reads from the client; while it waits, keepalive may judge
// the client's silence.
func (c *activityConn) readSocket(p []byte) (int, error) {
	c.waiting.Store(true)
	n, err := c.Conn.Read(p)
	c.waiting.Store(false)
	c.reads.Add(int64(n))
	return n, err
}

// counted adds messages received and bytes read to the traffic counters.
func (c *activityConn) counted(messages int64, bytes int) {
	if c.traffic != nil && (messages > 0 || bytes > 0) {
		c.traffic.add(builtinShard, toBackend, messages, bytes)
	}
}

// Close closes the connection, ending a pause its reader may be in.
func (c *activityConn) Close() error {
	if b := c.rate.Load(); b != nil {
		b.close()
	}
	return c.Conn.Close()
}

func (c *activityConn) Write(p []byte) (int, error) {
	n, err := c.write(p)
	if c.traffic != nil && n > 0 {
		c.traffic.add(builtinShard, toClient, c.out.feed(p[:n]), n)
	}
	return n, err
}

// activityHijacker hands gorilla's Upgrader the hijacked connection
// wrapped in an activityConn. Over HTTP/2 (h2 set: the extended CONNECT
// being answered) there is nothing to hijack: the connection is the
// request's stream, which answers gorilla's 101 with a 200 (see
// h2Handshake).
type activityHijacker struct {
	http.ResponseWriter
	conn   *activityConn
	h2     *http.Request
	stream *h2Stream
}

func (h *activityHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h.h2 != nil {
		h.stream = newH2Stream(h.ResponseWriter, h.h2)
		c := &h2Handshake{h2Stream: h.stream}
		h.conn = &activityConn{Conn: c}
		return h.conn, bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c)), nil
	}
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &activityConn{Conn: c}
	return h.conn, brw, nil
}
