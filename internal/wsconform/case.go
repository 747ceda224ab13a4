package wsconform

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Case is one conformance test: a script of frames to send on a fresh
// connection and the outcomes that count as passing, in Autobahn's terms.
// Cases returns the catalogue; a caller may also build its own.
type Case struct {
	// ID names the case. Where an Autobahn|Testsuite case corresponds
	// exactly it is that case's ID ("5.19"); wsconform's own variants are
	// the ID of the case they are modelled on, a slash and what differs
	// ("9.3.4/1M", "7.9.x/1015").
	ID string
	// Autobahn is the Autobahn case ID this case reproduces, or empty for
	// a variant of wsconform's own.
	Autobahn string
	// Description says what the client sends.
	Description string
	// Expectation says what a conforming echo server does.
	Expectation string
	// Steps is the script, run in order. A case without steps is not
	// implemented and scores UNIMPLEMENTED.
	Steps []Step
	// Expect is how the outcome is judged.
	Expect Expect
}

// Expect is how one case is judged, field for field what an Autobahn case
// sets in its expected and expectedClose dictionaries (autobahntestsuite
// case/case.py, onConnectionLost). The zero value expects nothing back,
// has this client close at once with an empty Close, and accepts only a
// server Close without code.
type Expect struct {
	// OK is the exact sequence of messages and pongs that scores OK.
	OK []Event
	// NonStrict, when NonStrictAllowed, is a second sequence that scores
	// NON-STRICT: in Autobahn's failure cases, failing before echoing a
	// valid message that came first.
	NonStrict        []Event
	NonStrictAllowed bool
	// ServerFails means the server must start the closing handshake (fail
	// the connection); false means this client starts it. Autobahn's
	// closedByMe, inverted.
	ServerFails bool
	// CloseCodes are the codes the server's close frame may carry. A close
	// frame without a code is always accepted, as in Autobahn ("the close
	// code should have been ... or empty").
	CloseCodes []int
	// RequireClean demands the full closing handshake followed by the
	// server closing TCP (Autobahn's requireClean).
	RequireClean bool
	// KeepOpen stops this client from closing by itself once the OK events
	// have arrived (Autobahn's suppressClose), for cases whose script
	// sends its own close.
	KeepOpen bool
	// Wait is how long after the script the case waits for the server.
	// Then, if FailAfterWait, this client fails the connection (Autobahn's
	// killAfter: a 1001 close, or a drop if already closing); otherwise it
	// starts an orderly close (closeAfter: a close frame with no code).
	Wait          time.Duration
	FailAfterWait bool
	// WrongCodeFails turns a WRONG CODE closing verdict into a FAILED
	// verdict, as every section 7 case does.
	WrongCodeFails bool
	// WrongEndpointFails makes the verdict FAILED when the wrong side
	// started the closing handshake (Autobahn's
	// closedByWrongEndpointIsFatal, used by the UTF-8 cases).
	WrongEndpointFails bool
	// Informational scores the case INFORMATIONAL whatever happens: the
	// behaviour is left open by RFC 6455 (Autobahn 7.13.x).
	Informational bool
	// UnvalidatedEcho, if set, is the sequence a server sends that does
	// not validate UTF-8 but echoes the invalid text unchanged. It scores
	// INFORMATIONAL instead of Autobahn's FAILED, so that a relay which
	// leaves UTF-8 to the endpoints is compared, not condemned.
	UnvalidatedEcho []Event
}

// writeMode says how a step's frames are cut into writes.
type writeMode uint8

const (
	writeTogether writeMode = iota // all frames in one write
	writeEach                      // one write per frame
	writeChopped                   // each frame in writes of chop bytes
)

// Step is one action of a case's script. Build it with Send, SendEach,
// SendChopped or AwaitPongs; the zero Step does nothing.
type Step struct {
	frames []Frame
	mode   writeMode
	chop   int
	pongs  int
	limit  time.Duration
}

// Send writes frames back to back in a single write: Autobahn's
// consecutive sendFrame calls, which Twisted hands to the socket together.
func Send(frames ...Frame) Step { return Step{frames: frames, mode: writeTogether} }

// SendEach writes each frame with a write of its own: Autobahn's
// sync=True, "frame-wise chops".
func SendEach(frames ...Frame) Step { return Step{frames: frames, mode: writeEach} }

// SendChopped writes each frame in pieces of size bytes, one write per
// piece and no pause between them (TCP_NODELAY is on): Autobahn's
// chopsize, "octet-wise chops" when size is 1.
func SendChopped(size int, frames ...Frame) Step {
	if size < 1 {
		size = 1
	}
	return Step{frames: frames, mode: writeChopped, chop: size}
}

// AwaitPongs waits until n pongs have arrived in all, the connection ends
// or limit passes, whichever is first. Autobahn's case 5.19 pauses for a
// fixed second instead; waiting for the event keeps the case fast and
// still shows whether the server answered before the message was done.
func AwaitPongs(n int, limit time.Duration) Step { return Step{pongs: n, limit: limit} }

// writes cuts the encoded frames into the writes the step makes.
func (st Step) writes(encoded [][]byte) [][]byte {
	switch st.mode {
	case writeEach:
		return encoded
	case writeChopped:
		var out [][]byte
		for _, w := range encoded {
			for len(w) > st.chop {
				out = append(out, w[:st.chop])
				w = w[st.chop:]
			}
			out = append(out, w)
		}
		return out
	}
	var all []byte
	for _, w := range encoded {
		all = append(all, w...)
	}
	return [][]byte{all}
}

// EventKind is the kind of thing from the server that a verdict compares.
type EventKind uint8

// The event kinds. Server pings are answered but are not events: a relay
// may add keepalive pings of its own, and that is not a difference in
// conformance (see Observation.ServerPings).
const (
	EventMessage EventKind = iota + 1
	EventPong
)

// Event is one message or pong from the server, reduced to what a verdict
// compares: kind, message type, length and a digest of the payload.
type Event struct {
	Kind EventKind
	// Binary is the message type: binary when true, text when false.
	// It is false for a pong.
	Binary bool
	// Len is the payload length in bytes.
	Len int
	// Digest is the first 8 bytes of the payload's SHA-256, in hex.
	Digest string
}

// MessageEvent is the event of a whole data message with payload p.
func MessageEvent(binary bool, p []byte) Event {
	return Event{Kind: EventMessage, Binary: binary, Len: len(p), Digest: digest(p)}
}

// PongEvent is the event of a pong with payload p.
func PongEvent(p []byte) Event {
	return Event{Kind: EventPong, Len: len(p), Digest: digest(p)}
}

func digest(p []byte) string {
	sum := sha256.Sum256(p)
	return hex.EncodeToString(sum[:8])
}

// String shows an event as kind, length and the start of its digest,
// e.g. "text(13B 315f5bdb)".
func (e Event) String() string {
	switch e.Kind {
	case EventPong:
		return fmt.Sprintf("pong(%dB %s)", e.Len, shortDigest(e.Digest))
	case EventMessage:
		typ := "text"
		if e.Binary {
			typ = "binary"
		}
		return fmt.Sprintf("%s(%dB %s)", typ, e.Len, shortDigest(e.Digest))
	}
	return "unknown event"
}

// shortDigest keeps enough of a digest to tell payloads apart in a report.
func shortDigest(d string) string {
	if len(d) > 8 {
		return d[:8]
	}
	return d
}
