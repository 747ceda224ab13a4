package wsconform

import "bytes"

// fragmentationCases is Autobahn section 5 (RFC 6455 section 5.4):
// fragmented messages must be reassembled whatever the TCP segmentation,
// control frames may arrive between fragments but must not be fragmented
// themselves, and continuation frames must continue something.
func fragmentationCases() []Case {
	f1, f2 := []byte("fragment1"), []byte("fragment2")
	joined := MessageEvent(false, []byte("fragment1fragment2"))
	pingPayload := []byte("ping payload")
	notCont := []byte("non-continuation payload")
	hello := []byte("Hello, world!")

	twoFragments := []Frame{fragment(OpText, false, f1), fragment(OpContinuation, true, f2)}
	withPing := []Frame{fragment(OpText, false, f1), pingFrame(pingPayload), fragment(OpContinuation, true, f2)}
	pongThenMessage := []Event{PongEvent(pingPayload), joined}
	strayFin := []Frame{fragment(OpContinuation, true, notCont), textFrame(hello)}
	strayMore := []Frame{fragment(OpContinuation, false, notCont), textFrame(hello)}

	const (
		echoed    = "The message comes back reassembled; clean close with 1000."
		pongFirst = "A pong comes back first, then the message reassembled; clean close with 1000."
		nothing   = "The connection is failed (1002): there is no message to continue."
		ctrlFrag  = "The connection is failed (1002): control frames must not be fragmented."
	)

	out := []Case{
		failCase("5.1", "Send a ping fragmented into 2 fragments.", ctrlFrag, nil, protocolError,
			Send(fragment(OpPing, false, f1), fragment(OpContinuation, true, f2))),
		failCase("5.2", "Send a pong fragmented into 2 fragments.", ctrlFrag, nil, protocolError,
			Send(fragment(OpPong, false, f1), fragment(OpContinuation, true, f2))),
		echoCase("5.3", "Send a text message fragmented into 2 fragments.", echoed,
			echoWait, false, []Event{joined}, Send(twoFragments...)),
		echoCase("5.4", "Send a text message fragmented into 2 fragments, each frame in its own write.", echoed,
			echoWait, false, []Event{joined}, SendEach(twoFragments...)),
		echoCase("5.5", "Send a text message fragmented into 2 fragments, one byte per write.", echoed,
			echoWait, false, []Event{joined}, SendChopped(1, twoFragments...)),
		echoCase("5.6", "Send a text message fragmented into 2 fragments with a ping in between.", pongFirst,
			echoWait, false, pongThenMessage, Send(withPing...)),
		echoCase("5.7", "Send a text message fragmented into 2 fragments with a ping in between, each frame in its own write.", pongFirst,
			echoWait, false, pongThenMessage, SendEach(withPing...)),
		echoCase("5.8", "Send a text message fragmented into 2 fragments with a ping in between, one byte per write.", pongFirst,
			echoWait, false, pongThenMessage, SendChopped(1, withPing...)),
		failCase("5.9", "Send a final continuation frame with nothing to continue, then a text message.", nothing,
			nil, protocolError, Send(strayFin...)),
		failCase("5.10", "Send a final continuation frame with nothing to continue, then a text message, each frame in its own write.", nothing,
			nil, protocolError, SendEach(strayFin...)),
		failCase("5.11", "Send a final continuation frame with nothing to continue, then a text message, one byte per write.", nothing,
			nil, protocolError, SendChopped(1, strayFin...)),
		failCase("5.12", "Send a non-final continuation frame with nothing to continue, then a text message.", nothing,
			nil, protocolError, Send(strayMore...)),
		failCase("5.13", "Send a non-final continuation frame with nothing to continue, then a text message, each frame in its own write.", nothing,
			nil, protocolError, SendEach(strayMore...)),
		failCase("5.14", "Send a non-final continuation frame with nothing to continue, then a text message, one byte per write.", nothing,
			nil, protocolError, SendChopped(1, strayMore...)),
		failCase("5.15", "Send a text message in 2 fragments, then a non-final continuation frame with nothing to continue, then a text message.",
			"The first message comes back, then the connection is failed (1002).",
			[]Event{joined}, protocolError,
			Send(fragment(OpText, false, f1), fragment(OpContinuation, true, f2),
				fragment(OpContinuation, false, []byte("fragment3")), textFrame([]byte("fragment4")))),
		failCase("5.16", "Twice: a non-final continuation frame with nothing to continue, then a text message in 2 fragments.", nothing,
			nil, protocolError, Send(twice(
				fragment(OpContinuation, false, []byte("fragment1")),
				fragment(OpText, false, []byte("fragment2")),
				fragment(OpContinuation, true, []byte("fragment3")))...)),
		failCase("5.17", "Twice: a final continuation frame with nothing to continue, then a text message in 2 fragments.", nothing,
			nil, protocolError, Send(twice(
				fragment(OpContinuation, true, []byte("fragment1")),
				fragment(OpText, false, []byte("fragment2")),
				fragment(OpContinuation, true, []byte("fragment3")))...)),
		failCase("5.18", "Send a text message in 2 fragments, both with the text opcode.",
			"The connection is failed (1002): every fragment after the first must be a continuation.",
			nil, protocolError, Send(fragment(OpText, false, f1), fragment(OpText, true, f2))),
	}
	return append(out, pingsInsideMessage("5.19", false), pingsInsideMessage("5.20", true))
}

// pingsInsideMessage is Autobahn 5.19 and 5.20: a text message in 5
// fragments with a ping after the second and after the fourth; the first
// pong must come back before the message is finished. 5.20 writes every
// frame separately.
func pingsInsideMessage(id string, each bool) Case {
	frags := [][]byte{[]byte("fragment1"), []byte("fragment2"), []byte("fragment3"), []byte("fragment4"), []byte("fragment5")}
	pings := [][]byte{[]byte("pongme 1!"), []byte("pongme 2!")}
	send := Send
	desc := "A text message in 5 fragments with a ping after the 2nd and the 4th; the rest is sent once the first pong is back (Autobahn pauses 1 s)."
	if each {
		send = SendEach
		desc += " Each frame in its own write."
	}
	return echoCase(id, desc,
		"Both pongs come back with their payloads, the first before the message is complete, then the message reassembled; clean close with 1000.",
		echoWait, false,
		[]Event{PongEvent(pings[0]), PongEvent(pings[1]), MessageEvent(false, bytes.Join(frags, nil))},
		send(fragment(OpText, false, frags[0]), fragment(OpContinuation, false, frags[1]), pingFrame(pings[0])),
		AwaitPongs(1, pongPause),
		send(fragment(OpContinuation, false, frags[2]), fragment(OpContinuation, false, frags[3]),
			pingFrame(pings[1]), fragment(OpContinuation, true, frags[4])),
	)
}

// twice repeats a sequence of frames.
func twice(frames ...Frame) []Frame {
	return append(append([]Frame(nil), frames...), frames...)
}
