package proxy

import (
	"crypto/rand"
	"errors"
	"io"

	"github.com/wsedge/wsedge/internal/reactor"
	"github.com/wsedge/wsedge/internal/wsframe"
)

// minReadRoom is the least room worth another read into the loop's
// buffer: a whole TLS record's plaintext. Reading on while this much is
// left lets several records (or a plain socket's whole backlog) go out in
// one write.
const minReadRoom = 16 << 10

// pump reads what src has sent and relays it, until src has nothing more
// ready, or the other leg cannot take more: then src is not read (the
// kernel's buffers fill and the peer slows down) until drained resumes it.
// A client over its message rate is not read either, until resumeIfDue
// resumes it; what it was paused with is relayed before anything new is
// read.
func (ss *session) pump(src *leg) {
	buf, head := ss.loop.Buffer(), ss.loop.Headroom()
	rate := src.in.rate
	for !ss.ended && !src.dead && !src.finished && !ss.heldBack(src) {
		if rate != nil {
			rate.now = monotime()
			if len(rate.held) > 0 {
				ss.relayHeld(src)
				continue
			}
		}
		n, err := readBatch(src.conn, buf[head:])
		if n > 0 {
			src.bytes += int64(n)
			ss.receivedCounted(src, buf, head, n)
		}
		if err != nil {
			switch {
			case errors.Is(err, io.EOF) && src.gotClose != 0:
				// Its close frame said it all: the closing handshake
				// goes on with its answer (browsers over HTTP/2 end
				// their stream right behind their close frame).
				src.finished = true
			case !errors.Is(err, reactor.ErrWouldBlock):
				if !ss.ended && !src.dead {
					ss.legLost(src, "connection lost")
				}
			case rate != nil:
				rate.caughtUp()
			}
			return
		}
	}
}

// readBatch reads from c into buf until c has nothing more ready or buf
// has too little room left. On a plain socket that is one read: a short
// read marks the socket drained, and the next Read returns at once.
func readBatch(c *reactor.Conn, buf []byte) (int, error) {
	n := 0
	for {
		k, err := c.Read(buf[n:])
		n += k
		if err != nil || len(buf)-n < minReadRoom {
			return n, err
		}
	}
}

// heldBack reports whether src is not read for now: the other leg has
// output waiting, or src is paused for its message rate. A leg whose data
// is discarded is always read.
func (ss *session) heldBack(src *leg) bool {
	if src.in.discard || src.in.over {
		return false
	}
	dst := src.peer
	return src.in.rate.paused() || !dst.dead && dst.conn.Buffered() > 0
}

// receivedCounted relays buf[head:head+n], just read from src, and adds
// the messages and bytes to the route's traffic counters.
func (ss *session) receivedCounted(src *leg, buf []byte, head, n int) {
	before := src.in.messages
	ss.received(src, buf, head, n)
	if t := ss.route.traffic; t != nil {
		t.add(ss.loop.Index(), src.direction(), src.in.messages-before, n)
	}
}

// received relays buf[head:head+n], just read from src, after the
// unfinished frame the previous read ended with.
func (ss *session) received(src *leg, buf []byte, head, n int) {
	start := src.in.takeCarry(buf, head)
	ss.relay(src, buf[:head+n], start)
}

// relay scans buf[r:] and writes what src's frames give dst, putting
// control frames wsedge sends dst between src's frames.
func (ss *session) relay(src *leg, buf []byte, r int) {
	dst := src.peer
	for !ss.ended {
		res := src.in.scan(buf, r, dst.injectionWaiting())
		switch res.event {
		case scanEnd:
			ss.forward(dst, buf[r:res.out])
			return
		case scanBoundary:
			ss.forward(dst, buf[r:res.out])
			ss.inject(dst)
		case scanClose:
			ss.forward(dst, buf[r:res.closeAt])
			ss.closeReceived(src, res.code, buf[res.closeAt:res.out])
			return
		case scanFail:
			ss.forward(dst, buf[r:res.out])
			ss.legFailed(src, res.code, res.reason)
		case scanOverRate:
			ss.forward(dst, buf[r:res.out])
			if !src.in.discard {
				ss.hold(src, buf[res.next:])
				return
			}
			ss.rateExceeded(src)
		}
		r = res.next
	}
}

// forward writes frames relayed from the other leg to l; once l has been
// sent a close frame, nothing more goes to it (RFC 6455 section 5.5.1).
func (ss *session) forward(l *leg, p []byte) {
	if len(p) == 0 || l.dead || l.closeSent {
		return
	}
	ss.write(l, p)
}

// write sends p to l; output the socket cannot take yet waits in the
// connection, and from then on l's write timeout runs.
func (ss *session) write(l *leg, p []byte) {
	if err := l.conn.Write(p); err != nil {
		ss.legLost(l, "connection lost")
		return
	}
	if l.blockedSince == 0 && l.conn.Buffered() > 0 {
		l.blockedSince = monotime()
		if ss.cs.writeTimeout > 0 {
			ss.arm(l.blockedSince + int64(ss.cs.writeTimeout))
		}
	}
}

// drained: output that waited for l has been written (or failed). The
// other leg, held back meanwhile, is read again.
func (ss *session) drained(l *leg) {
	if ss.ended || l.dead {
		return
	}
	if l.conn.WriteErr() != nil {
		ss.legLost(l, "connection lost")
		return
	}
	l.blockedSince = 0
	if ss.doneIfFinished() {
		return
	}
	ss.pump(l.peer)
}

// injectionWaiting reports whether a control frame of wsedge's own waits
// for a frame boundary in what goes to l.
func (l *leg) injectionWaiting() bool { return l.pendingPing || l.pendingClose != nil }

// atBoundary reports whether what goes to l is between two frames: a
// control frame may be written now (RFC 6455 section 5.4 allows them
// between the fragments of a message, never inside a frame).
func (l *leg) atBoundary() bool { return !l.peer.in.midFrame() }

// inject writes the control frames waiting for a boundary in what goes to
// l: a close (which ends what l gets), else a ping.
func (ss *session) inject(l *leg) {
	if l.pendingClose != nil {
		payload := l.pendingClose
		l.pendingClose, l.pendingPing = nil, false
		ss.writeClose(l, payload)
		return
	}
	if l.pendingPing {
		l.pendingPing = false
		ss.writePing(l, monotime())
	}
}

// ping sends l a keepalive ping, now or at the next frame boundary.
func (ss *session) ping(l *leg, now int64) {
	if l.atBoundary() {
		ss.writePing(l, now)
		return
	}
	l.pendingPing = true
}

func (ss *session) writePing(l *leg, now int64) {
	frame := controlFrame(wsframe.OpPing, ss.rules.pingToken[:], l.masked(), ss.rules.keys)
	l.live.sent(now, l.bytes)
	ss.write(l, frame)
	ss.arm(l.live.verdictAt(ss.cs.pongTimeout))
}

// controlFrame builds a control frame wsedge sends, masked with a fresh
// key toward a backend: from keys on the loop that owns them, straight
// from crypto/rand elsewhere (keys nil).
func controlFrame(op wsframe.Opcode, payload []byte, masked bool, keys *maskKeys) []byte {
	var key [4]byte
	switch {
	case masked && keys != nil:
		key = keys.next()
	case masked:
		rand.Read(key[:])
	}
	return wsframe.AppendControl(make([]byte, 0, wsframe.MaxControlFrameLen), op, payload, masked, key)
}

// closeFrame builds a close frame wsedge sends.
func closeFrame(payload []byte, masked bool, keys *maskKeys) []byte {
	return controlFrame(wsframe.OpClose, payload, masked, keys)
}
