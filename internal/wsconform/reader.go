package wsconform

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"time"
)

// readPump reads the server's frames until the connection ends, recording
// events and answering pings and Close frames the way Autobahn's client
// does. It is stopped by closing the connection.
func (s *session) readPump() {
	defer s.wg.Done()
	defer close(s.readDone)
	defer s.signal()
	var msg assembler
	for {
		f, err := readFrame(s.br, maxInboundFrame)
		if err != nil {
			s.connectionLost(err)
			return
		}
		if s.isClosed() {
			return // dropped by this client: frames still buffered do not count
		}
		s.handleFrame(&msg, f)
	}
}

// connectionLost records the end of the TCP connection. If this client
// did not drop it, the server closed it.
func (s *session) connectionLost(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed {
		return // dropped by this client; the read error is its echo
	}
	s.state = stateClosed
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && s.obs.ReadError == "" {
		s.obs.ReadError = err.Error()
	}
	if errors.Is(err, errFrameTooLarge) || errors.Is(err, errBadLength) {
		// The stream cannot be read past this frame: give up on it.
		s.obs.DroppedByMe = true
		s.obs.DropReason = err.Error()
		s.conn.Close()
	}
}

// handleFrame checks one frame and acts on it.
func (s *session) handleFrame(msg *assembler, f inFrame) {
	if v := frameViolation(f, msg.active); v != "" {
		s.violation(v)
		return
	}
	switch f.opcode {
	case OpText, OpBinary:
		msg.start(f.opcode == OpBinary)
		msg.add(f.payload)
	case OpContinuation:
		msg.add(f.payload)
	case OpPing:
		s.onPing(f.payload)
		return
	case OpPong:
		s.onPong(f.payload)
		return
	case OpClose:
		s.onClose(f.payload)
		return
	}
	if f.fin {
		s.addEvent(msg.finish())
	}
}

// frameViolation returns the RFC 6455 rule f breaks coming from a server
// to a client that negotiated no extension, or "".
func frameViolation(f inFrame, inMessage bool) string {
	switch {
	case f.masked:
		return "server sent a masked frame (RFC 6455 section 5.1)"
	case f.rsv != 0:
		return fmt.Sprintf("server set reserved bits %d with no extension negotiated (RFC 6455 section 5.2)", f.rsv)
	case !f.opcode.IsDefined():
		return fmt.Sprintf("server sent reserved opcode %d (RFC 6455 section 5.2)", byte(f.opcode))
	case f.opcode.IsControl() && !f.fin:
		return "server fragmented a control frame (RFC 6455 section 5.5)"
	case f.opcode.IsControl() && len(f.payload) > maxControlPayload:
		return fmt.Sprintf("server sent a %d-byte control frame, over 125 (RFC 6455 section 5.5)", len(f.payload))
	case f.opcode == OpContinuation && !inMessage:
		return "server sent a continuation frame with no message to continue (RFC 6455 section 5.4)"
	case (f.opcode == OpText || f.opcode == OpBinary) && inMessage:
		return "server started a new message inside a fragmented one (RFC 6455 section 5.4)"
	}
	return ""
}

// violation fails the connection as Autobahn's client does with
// failByDrop off: a 1002 Close if open, a drop if already closing.
func (s *session) violation(reason string) {
	s.mu.Lock()
	if s.obs.Violation == "" {
		s.obs.Violation = reason
	}
	st := s.state
	var wire []byte
	if st == stateOpen {
		wire = s.beginCloseLocked(closePayload(codeProtocolError, nil), true)
		s.obs.FailedByMe = true
	}
	s.mu.Unlock()
	switch {
	case wire != nil:
		s.sendCtrl(ctrlFrame{wire: wire})
	case st == stateClosing:
		s.drop("second protocol error while closing: " + reason)
	}
	s.signal()
}

// addEvent records a message or pong and wakes the driver.
func (s *session) addEvent(e Event) {
	s.mu.Lock()
	s.obs.Events = append(s.obs.Events, e)
	s.mu.Unlock()
	s.signal()
}

// onPing answers with a pong carrying the same payload (RFC 6455 section
// 5.5.2), only while open, as Autobahn's sendPong does.
func (s *session) onPing(payload []byte) {
	s.mu.Lock()
	s.obs.ServerPings++
	open := s.state == stateOpen
	s.mu.Unlock()
	if !open {
		return
	}
	wire, err := Frame{Fin: true, Opcode: OpPong, Payload: payload}.wire()
	if err != nil {
		return
	}
	s.sendCtrl(ctrlFrame{wire: wire})
}

// onPong records the pong and matches it to one of this client's pings.
func (s *session) onPong(payload []byte) {
	s.mu.Lock()
	s.obs.Events = append(s.obs.Events, PongEvent(payload))
	matched := false
	for i, p := range s.outstanding {
		if bytes.Equal(p, payload) {
			s.outstanding = append(s.outstanding[:i], s.outstanding[i+1:]...)
			matched = true
			break
		}
	}
	if matched {
		s.obs.PongsMatched++
	} else {
		s.obs.UnexpectedPongs++
	}
	s.mu.Unlock()
	s.signal()
}

// onClose handles the server's Close (RFC 6455 section 5.5.1). If this
// client had not sent one it answers with 1000, as Autobahn's client does
// (echoCloseCodeReason off); if the Close itself is invalid it fails the
// connection with 1002 instead, and the server's Close stands as the
// answer to that.
func (s *session) onClose(payload []byte) {
	cf, problem := parseClose(payload)
	s.mu.Lock()
	if s.obs.CloseReceived != nil || s.state == stateClosed {
		s.mu.Unlock()
		return // a second Close changes nothing
	}
	s.obs.CloseReceived = &cf
	var reply ctrlFrame
	if s.state == stateOpen {
		if problem != "" {
			if s.obs.Violation == "" {
				s.obs.Violation = problem
			}
			s.obs.FailedByMe = true
			reply.wire = s.beginCloseLocked(closePayload(codeProtocolError, nil), true)
		} else {
			reply.wire = s.beginCloseLocked(closePayload(codeNormal, nil), false)
			reply.endsData = true
		}
	}
	s.obs.ClosingHandshake = true
	s.handshakeAt = time.Now()
	s.mu.Unlock()
	if reply.wire != nil {
		s.sendCtrl(reply)
	}
	s.signal()
}

// assembler follows a data message across its fragments, keeping only its
// type, length and running hash.
type assembler struct {
	active bool
	binary bool
	n      int
	h      hash.Hash
}

func (a *assembler) start(binary bool) {
	a.active = true
	a.binary = binary
	a.n = 0
	a.h = sha256.New()
}

func (a *assembler) add(p []byte) {
	a.n += len(p)
	a.h.Write(p)
}

func (a *assembler) finish() Event {
	a.active = false
	sum := a.h.Sum(nil)
	return Event{Kind: EventMessage, Binary: a.binary, Len: a.n, Digest: hex.EncodeToString(sum[:8])}
}
