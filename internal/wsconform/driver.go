package wsconform

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// drive runs the script, then waits for the connection to end as
// Autobahn's client does: close as soon as the expected events are in,
// otherwise close or fail the connection when the case's wait runs out,
// and drop TCP if the server does not finish the closing handshake.
func (s *session) drive(ctx context.Context) {
	s.runSteps(ctx)
	s.awaitEnd(ctx)
}

// runSteps plays the script in order. It stops at the first write error:
// the server has usually closed by then and the rest cannot arrive.
func (s *session) runSteps(ctx context.Context) {
	for _, st := range s.c.Steps {
		if s.isClosed() || ctx.Err() != nil {
			return
		}
		if st.pongs > 0 {
			s.awaitPongs(ctx, st.pongs, s.opts.scale(st.limit))
			continue
		}
		if err := s.runStep(ctx, st); err != nil {
			s.mu.Lock()
			if s.obs.WriteError == "" {
				s.obs.WriteError = err.Error()
			}
			s.mu.Unlock()
			return
		}
	}
}

// runStep encodes the step's frames, updates the state for the ones that
// matter to it (a starting Close, pings awaiting pongs) and writes them.
func (s *session) runStep(ctx context.Context, st Step) error {
	encoded := make([][]byte, 0, len(st.frames))
	for _, f := range st.frames {
		wire, err := f.wire()
		if err != nil {
			return err
		}
		if !s.noteOutgoing(f) {
			continue
		}
		encoded = append(encoded, wire)
	}
	if len(encoded) == 0 {
		return nil
	}
	return s.write(ctx, st.writes(encoded))
}

// noteOutgoing records what an outgoing frame changes and reports whether
// to send it: a Close that starts the handshake is skipped when the
// connection is no longer open, as Autobahn's sendClose is.
func (s *session) noteOutgoing(f Frame) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Opcode == OpClose && f.StartsClose {
		if s.state != stateOpen {
			return false
		}
		s.noteCloseSentLocked(f.Payload, true)
	}
	if f.isValidPing() {
		s.obs.PingsSent++
		s.outstanding = append(s.outstanding, append([]byte(nil), f.Payload...))
	}
	return true
}

// write hands one step's writes to writePump and waits for them.
func (s *session) write(ctx context.Context, chunks [][]byte) error {
	req := writeRequest{chunks: chunks, done: make(chan error, 1)}
	select {
	case s.data <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// awaitPongs waits until n pongs arrived, the connection ended or limit
// passed.
func (s *session) awaitPongs(ctx context.Context, n int, limit time.Duration) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for s.pongCount() < n && !s.isClosed() {
		select {
		case <-s.notify:
		case <-s.readDone:
			return
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (s *session) pongCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.obs.Events {
		if e.Kind == EventPong {
			n++
		}
	}
	return n
}

// awaitEnd waits for the end of the connection, acting on each deadline
// as it comes. Every path ends: the case deadline drops the connection.
func (s *session) awaitEnd(ctx context.Context) {
	waitAt := time.Now().Add(s.wait)
	waited := false
	timer := time.NewTimer(time.Until(s.deadline))
	defer timer.Stop()
	for {
		s.autoClose()
		next, closed := s.nextDeadline(waitAt, waited)
		if closed {
			return
		}
		timer.Reset(time.Until(next))
		select {
		case <-s.notify:
		case <-s.readDone:
			return
		case now := <-timer.C:
			if !waited && !now.Before(waitAt) {
				waited = true
				s.waitExpired()
			}
			s.enforceTimeouts(now)
		case <-ctx.Done():
			s.drop("run cancelled")
			return
		}
	}
}

// autoClose is Autobahn's finishWhenDone: once the events are exactly the
// OK ones, this client starts the closing handshake with 1000.
func (s *session) autoClose() {
	exp := s.c.Expect
	if exp.ServerFails || exp.KeepOpen || exp.NonStrictAllowed {
		return
	}
	s.mu.Lock()
	var wire []byte
	if len(s.obs.Events) > 0 && slices.Equal(s.obs.Events, exp.OK) {
		wire = s.beginCloseLocked(closePayload(codeNormal, nil), true)
	}
	s.mu.Unlock()
	if wire != nil {
		s.sendCtrl(ctrlFrame{wire: wire})
	}
}

// nextDeadline is the earliest pending deadline, or closed if TCP is gone.
func (s *session) nextDeadline(waitAt time.Time, waited bool) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed {
		return time.Time{}, true
	}
	next := s.deadline
	earlier := func(t time.Time) {
		if t.Before(next) {
			next = t
		}
	}
	if !waited {
		earlier(waitAt)
	}
	if s.obs.ClosedByMe && !s.obs.ClosingHandshake {
		earlier(s.closeSentAt.Add(s.closeTimeout))
	}
	if s.obs.ClosingHandshake {
		earlier(s.handshakeAt.Add(s.dropTimeout))
	}
	return next, false
}

// waitExpired is Autobahn's closeAfter (an orderly Close with no code) or
// killAfter (fail the connection: 1001 if open, drop if closing; the
// fuzzing client runs with failByDrop off).
func (s *session) waitExpired() {
	exp := s.c.Expect
	if !exp.FailAfterWait {
		s.closeNow(nil, false)
		return
	}
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	switch st {
	case stateOpen:
		s.closeNow(closePayload(codeGoingAway, []byte("going away")), true)
	case stateClosing:
		s.drop(fmt.Sprintf("connection still not closed %v after the script (Autobahn killAfter)", s.wait))
	}
}

// enforceTimeouts drops the connection when the server is late in the
// closing handshake, or the case ran out of time altogether.
func (s *session) enforceTimeouts(now time.Time) {
	s.mu.Lock()
	var reason string
	switch {
	case s.state == stateClosed:
	case s.obs.ClosedByMe && !s.obs.ClosingHandshake && !now.Before(s.closeSentAt.Add(s.closeTimeout)):
		reason = fmt.Sprintf("no Close from the server within %v of ours", s.closeTimeout)
	case s.obs.ClosingHandshake && !now.Before(s.handshakeAt.Add(s.dropTimeout)):
		reason = fmt.Sprintf("server kept TCP open %v after the closing handshake (RFC 6455 section 7.1.1)", s.dropTimeout)
	case !now.Before(s.deadline):
		reason = "case exceeded its time limit"
	}
	s.mu.Unlock()
	if reason != "" {
		s.drop(reason)
	}
}
