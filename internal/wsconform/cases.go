package wsconform

import (
	"bytes"
	"time"
)

// How long each case waits for the server after its script, taken from the
// closeAfter and killAfter calls of the Autobahn case files so that "too
// slow" means the same here. On a conforming server over loopback no case
// waits for them: it ends as soon as the expected events or close arrive.
const (
	// echoWait: closeAfter(1) or killAfter(1) after sending a message or
	// ping that should come back (cases 1.x.1-1.x.5, 2.x, 5.x, 6.1-6.2).
	echoWait = time.Second
	// pongWait2 and pongWait3: closeAfter(2) in case 2.6 (a ping sent one
	// byte per write) and closeAfter(3) in 2.10 and 2.11 (ten pings).
	pongWait2 = 2 * time.Second
	pongWait3 = 3 * time.Second
	// failWait: killAfter(1) after sending something the server must fail
	// the connection on (sections 3, 4, 5, 6.3 and 7).
	failWait = time.Second
	// utf8Wait: killAfter(0.5) in the generated UTF-8 cases (case6_x_x.py).
	utf8Wait = 500 * time.Millisecond
	// bigWait: killAfter(10) for 64 KiB messages (1.x.6-1.x.8) and
	// WAITSECS = 10 for the section 9 messages.
	bigWait = 10 * time.Second
	// pongPause: how long case 5.19 waits for the first pong before sending
	// the rest of the message; Autobahn pauses a fixed second there
	// (continueLater(1)).
	pongPause = time.Second
)

// Cases returns the whole catalogue in Autobahn's order: sections 1
// (framing), 2 (pings and pongs), 3 (reserved bits), 4 (reserved opcodes),
// 5 (fragmentation), 6 (UTF-8, a selection), 7 (close handling) and a
// bounded part of 9 (messages up to 1 MiB). Each call builds fresh cases.
func Cases() []Case {
	var all []Case
	for _, section := range [][]Case{
		framingCases(),
		pingCases(),
		reservedBitCases(),
		opcodeCases(),
		fragmentationCases(),
		utf8Cases(),
		closeCases(),
		limitCases(),
	} {
		all = append(all, section...)
	}
	return all
}

// dataType is a message type as the catalogue sends it, with the byte
// pattern Autobahn fills its payloads with.
type dataType struct {
	name   string
	binary bool
	op     Opcode
	fill   string
}

// frame is a final, unfragmented data frame of this type.
func (dt dataType) frame(p []byte) Frame { return Frame{Fin: true, Opcode: dt.op, Payload: p} }

// Frame builders for the catalogue.

func textFrame(p []byte) Frame   { return Frame{Fin: true, Opcode: OpText, Payload: p} }
func binaryFrame(p []byte) Frame { return Frame{Fin: true, Opcode: OpBinary, Payload: p} }
func pingFrame(p []byte) Frame   { return Frame{Fin: true, Opcode: OpPing, Payload: p} }
func pongFrame(p []byte) Frame   { return Frame{Fin: true, Opcode: OpPong, Payload: p} }

// fragment is one frame of a fragmented message (or a deliberately
// fragmented control frame).
func fragment(op Opcode, fin bool, p []byte) Frame {
	return Frame{Fin: fin, Opcode: op, Payload: p}
}

// withRSV sets reserved bits on a frame, numbered as Autobahn numbers them.
func withRSV(f Frame, rsv byte) Frame {
	f.RSV = rsv
	return f
}

// startClose is this client's Close with payload p, starting the closing
// handshake (Autobahn's sendClose / sendCloseFrame).
func startClose(p []byte) Frame {
	return Frame{Fin: true, Opcode: OpClose, Payload: p, StartsClose: true}
}

// fragments splits p into frames of at most size bytes, the first with
// op and the rest continuations, the last final (Autobahn's sendMessage
// with payload_frag_size).
func fragments(op Opcode, p []byte, size int) []Frame {
	var out []Frame
	for first := true; first || len(p) > 0; first = false {
		n := min(size, len(p))
		f := Frame{Opcode: OpContinuation, Payload: p[:n]}
		if first {
			f.Opcode = op
		}
		p = p[n:]
		f.Fin = len(p) == 0
		out = append(out, f)
	}
	return out
}

// repeat is n bytes of pattern repeated.
func repeat(pattern string, n int) []byte {
	return bytes.Repeat([]byte(pattern), n/len(pattern)+1)[:n]
}

// Case builders for the three shapes of Autobahn case.

// echoCase: the server must send back want, then this client closes with
// 1000 and the close must be clean (expectedClose closedByMe True,
// closeCode [1000], requireClean True). kill selects killAfter over
// closeAfter for the wait.
func echoCase(id, desc, expectation string, wait time.Duration, kill bool, want []Event, steps ...Step) Case {
	return Case{
		ID: id, Autobahn: id, Description: desc, Expectation: expectation,
		Steps: steps,
		Expect: Expect{
			OK:            want,
			CloseCodes:    []int{codeNormal},
			RequireClean:  true,
			Wait:          wait,
			FailAfterWait: kill,
		},
	}
}

// failCase: the server must fail the connection with one of codes, or by
// dropping TCP (closedByMe False, requireClean False, killAfter(1)).
// before is what a strict server sends first (a valid message that came
// before the bad frame); if it is not empty, failing without sending it
// is NON-STRICT, as in Autobahn.
func failCase(id, desc, expectation string, before []Event, codes []int, steps ...Step) Case {
	return Case{
		ID: id, Autobahn: id, Description: desc, Expectation: expectation,
		Steps: steps,
		Expect: Expect{
			OK:               before,
			NonStrict:        nil,
			NonStrictAllowed: len(before) > 0,
			ServerFails:      true,
			CloseCodes:       codes,
			Wait:             failWait,
			FailAfterWait:    true,
		},
	}
}

// protocolError is the close code a server fails with on a framing error.
var protocolError = []int{codeProtocolError}

// variant turns a case into one of wsconform's own: no Autobahn ID.
func variant(c Case) Case {
	c.Autobahn = ""
	return c
}
