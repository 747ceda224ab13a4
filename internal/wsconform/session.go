package wsconform

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// The client's own waits. Each is Autobahn's default, so that "the server
// did not answer in time" means the same here as in an Autobahn report.
const (
	// closeHandshakeTimeout is how long the server has to answer this
	// client's Close with its own (autobahn-python closeHandshakeTimeout).
	closeHandshakeTimeout = time.Second
	// serverDropTimeout is how long the server has to close TCP once Close
	// frames went both ways, which RFC 6455 section 7.1.1 makes the
	// server's job (autobahn-python serverConnectionDropTimeout).
	serverDropTimeout = time.Second
	// caseSlack is added to a case's waits to give its hard time limit,
	// covering the writes of its script. Loopback needs a fraction of it.
	caseSlack = 5 * time.Second
	// maxInboundFrame bounds one frame from the server. Messages are only
	// hashed, never held, so no limit applies to them.
	maxInboundFrame = 16 << 20
	// controlQueue is how many control frames (pongs, closes) may wait for
	// the writer. The reader only blocks past it, and the writer is only
	// slow while the server does not read, so it never fills in practice.
	controlQueue = 64
)

// Close codes this client sends on its own (RFC 6455 section 7.4.1).
const (
	codeNormal        = 1000
	codeGoingAway     = 1001
	codeProtocolError = 1002
)

// connState is the client side of the closing handshake (RFC 6455
// section 7): open, Close sent, TCP gone.
type connState uint8

const (
	stateOpen connState = iota
	stateClosing
	stateClosed
)

// errStopped is returned for a script write refused because the server
// started the closing handshake and this client already answered it: no
// data may follow a Close (RFC 6455 section 5.5.1).
var errStopped = errors.New("wsconform: script stopped: the server closed the connection")

// ctrlFrame is a control frame on its way to the writer.
type ctrlFrame struct {
	wire []byte
	// endsData marks the Close answering the server's: script writes
	// after it are refused.
	endsData bool
}

// writeRequest is one step's writes, made back to back with no control
// frame in between, so a pong never lands inside a chopped frame.
type writeRequest struct {
	chunks [][]byte
	done   chan error // capacity 1: the writer never blocks on it
}

// session runs one case on one connection. It owns two goroutines,
// readPump and writePump, which shutdown stops and waits for; the caller's
// goroutine runs the script and the waits (drive).
type session struct {
	c        *Case
	conn     net.Conn
	br       *bufio.Reader
	opts     Options
	deadline time.Time // hard limit for the whole case, writes included

	// The waits of this case, scaled by Options.WaitScale.
	wait, closeTimeout, dropTimeout time.Duration

	mu          sync.Mutex
	state       connState
	obs         Observation
	outstanding [][]byte  // payloads of this client's unanswered pings
	closeSentAt time.Time // when this client sent the first Close
	handshakeAt time.Time // when Close frames had gone both ways

	notify   chan struct{} // capacity 1: something changed, look again
	ctrl     chan ctrlFrame
	data     chan writeRequest
	stop     chan struct{} // closed by shutdown
	readDone chan struct{} // closed when readPump returns
	wg       sync.WaitGroup
}

// newSession prepares case c on an upgraded connection whose reader br
// may already hold the server's first frames.
func newSession(c *Case, conn net.Conn, br *bufio.Reader, opts Options) *session {
	s := &session{
		c:            c,
		conn:         conn,
		br:           br,
		opts:         opts,
		wait:         opts.scale(c.Expect.Wait),
		closeTimeout: opts.scale(closeHandshakeTimeout),
		dropTimeout:  opts.scale(serverDropTimeout),
		obs:          Observation{Opened: true},
		notify:       make(chan struct{}, 1),
		ctrl:         make(chan ctrlFrame, controlQueue),
		data:         make(chan writeRequest),
		stop:         make(chan struct{}),
		readDone:     make(chan struct{}),
	}
	budget := s.wait + s.closeTimeout + s.dropTimeout + opts.scale(caseSlack)
	for _, st := range c.Steps {
		budget += opts.scale(st.limit)
	}
	s.deadline = time.Now().Add(budget)
	return s
}

// run plays the case and returns what was observed once both goroutines
// have stopped.
func (s *session) run(ctx context.Context) Observation {
	s.conn.SetWriteDeadline(s.deadline)
	s.wg.Add(2)
	go s.readPump()
	go s.writePump()
	s.drive(ctx)
	s.shutdown()
	return s.result()
}

// shutdown closes the connection (a no-op if either side already did) and
// waits for both goroutines.
func (s *session) shutdown() {
	s.conn.Close()
	close(s.stop)
	s.wg.Wait()
}

// result fills in the summary fields; call it after shutdown.
func (s *session) result() Observation {
	o := s.obs
	o.WasClean = o.ClosingHandshake && !o.DroppedByMe
	switch {
	case o.DroppedByMe:
		o.End = EndClientDropped
	case o.ClosingHandshake:
		o.End = EndClean
	default:
		o.End = EndServerDropped
	}
	return o
}

// signal wakes the driver without ever blocking the caller.
func (s *session) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// sendCtrl queues a control frame for the writer.
func (s *session) sendCtrl(cf ctrlFrame) {
	select {
	case s.ctrl <- cf:
	case <-s.stop:
	}
}

// beginCloseLocked moves an open connection to closing and returns the
// encoded Close to send, or nil if the connection is not open (Autobahn
// ignores sendClose then). byMe says this client starts the handshake
// rather than answering the server's. Call with s.mu held.
func (s *session) beginCloseLocked(payload []byte, byMe bool) []byte {
	if s.state != stateOpen {
		return nil
	}
	wire, err := Frame{Fin: true, Opcode: OpClose, Payload: payload}.wire()
	if err != nil {
		return nil
	}
	s.noteCloseSentLocked(payload, byMe)
	return wire
}

// noteCloseSentLocked records this client's Close. Call with s.mu held.
func (s *session) noteCloseSentLocked(payload []byte, byMe bool) {
	cf, _ := parseClose(payload)
	s.state = stateClosing
	s.obs.CloseSent = &cf
	s.obs.ClosedByMe = byMe
	if byMe {
		s.closeSentAt = time.Now()
	}
}

// closeNow starts this client's closing handshake if the connection is
// still open; failing marks it as failing the connection.
func (s *session) closeNow(payload []byte, failing bool) {
	s.mu.Lock()
	wire := s.beginCloseLocked(payload, true)
	if wire != nil && failing {
		s.obs.FailedByMe = true
	}
	s.mu.Unlock()
	if wire != nil {
		s.sendCtrl(ctrlFrame{wire: wire})
	}
}

// drop closes TCP from this side. The reader then stops on its own.
func (s *session) drop(reason string) {
	s.mu.Lock()
	if s.state != stateClosed {
		s.state = stateClosed
		s.obs.DroppedByMe = true
		s.obs.DropReason = reason
	}
	s.mu.Unlock()
	s.conn.Close()
}

// isClosed reports whether TCP is gone, on either side.
func (s *session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateClosed
}
