package wsconform

import "fmt"

// reservedBitCases is Autobahn section 3: a reserved bit set with no
// extension negotiated must fail the connection (RFC 6455 section 5.2,
// "MUST be 0 unless an extension is negotiated"). Where a valid message
// goes first, echoing it before failing is OK and failing without echoing
// it NON-STRICT.
func reservedBitCases() []Case {
	hello := []byte("Hello, world!")
	small := []byte("\x00\xff\xfe\xfd\xfc\xfb\x00\xff")
	echo := []Event{MessageEvent(false, hello)}
	failAfterEcho := "The first message comes back, then the connection is failed (1002); no pong."
	failNow := "The connection is failed (1002)."

	return []Case{
		failCase("3.1", "Send a small text message with RSV = 1.", failNow,
			nil, protocolError, Send(withRSV(textFrame(hello), 1))),
		failCase("3.2", "Send a small text message, then again with RSV = 2, then a ping.", failAfterEcho,
			echo, protocolError, Send(textFrame(hello), withRSV(textFrame(hello), 2), pingFrame(nil))),
		failCase("3.3", "Send a small text message, then again with RSV = 3, then a ping, each frame in its own write.", failAfterEcho,
			echo, protocolError, SendEach(textFrame(hello), withRSV(textFrame(hello), 3), pingFrame(nil))),
		failCase("3.4", "Send a small text message, then again with RSV = 4, then a ping, one byte per write.", failAfterEcho,
			echo, protocolError, SendChopped(1, textFrame(hello), withRSV(textFrame(hello), 4), pingFrame(nil))),
		failCase("3.5", "Send a small binary message with RSV = 5.", failNow,
			nil, protocolError, Send(withRSV(binaryFrame(small), 5))),
		// Autobahn's case3_6.py describes "Ping with RSV = 6" but sends
		// opcode 2 (binary); 3.6 follows the code, 3.6/ping the description.
		failCase("3.6", "Send a small binary message with RSV = 6 (what Autobahn's case 3.6 actually sends).", failNow,
			nil, protocolError, Send(withRSV(binaryFrame(hello), 6))),
		variant(failCase("3.6/ping", "Send a ping with RSV = 6 (what Autobahn's case 3.6 describes).", failNow,
			nil, protocolError, Send(withRSV(pingFrame(hello), 6)))),
		failCase("3.7", "Send a close frame with RSV = 7, as a raw frame.", failNow,
			nil, protocolError, Send(withRSV(Frame{Fin: true, Opcode: OpClose}, 7))),
	}
}

// opcodeCases is Autobahn section 4: a reserved opcode, data (3-7, 4.1.x)
// or control (11-15, 4.2.x), must fail the connection (RFC 6455 section
// 5.2, "If an unknown opcode is received, the receiving endpoint MUST
// _Fail the WebSocket Connection_").
func opcodeCases() []Case {
	hello := []byte("Hello, world!")
	reservedPayload := []byte("reserved opcode payload")
	echo := []Event{MessageEvent(false, hello)}
	failNow := "The connection is failed (1002)."
	failAfterEcho := "The first message comes back, then the connection is failed (1002); no pong."

	var out []Case
	for sub, base := range []Opcode{3, 11} {
		kind := "non-control"
		if base.IsControl() {
			kind = "control"
		}
		id := func(n int) string { return fmt.Sprintf("4.%d.%d", sub+1, n) }
		op := func(n int) Opcode { return base + Opcode(n-1) }
		reserved := func(n int, p []byte) Frame { return Frame{Fin: true, Opcode: op(n), Payload: p} }
		out = append(out,
			failCase(id(1), fmt.Sprintf("Send a frame with reserved %s opcode %d.", kind, op(1)), failNow,
				nil, protocolError, Send(reserved(1, nil))),
			failCase(id(2), fmt.Sprintf("Send a frame with reserved %s opcode %d and a payload.", kind, op(2)), failNow,
				nil, protocolError, Send(reserved(2, reservedPayload))),
			failCase(id(3), fmt.Sprintf("Send a small text message, then a frame with reserved %s opcode %d, then a ping.", kind, op(3)), failAfterEcho,
				echo, protocolError, Send(textFrame(hello), reserved(3, nil), pingFrame(nil))),
			failCase(id(4), fmt.Sprintf("Send a small text message, then a frame with reserved %s opcode %d and a payload, then a ping.", kind, op(4)), failAfterEcho,
				echo, protocolError, Send(textFrame(hello), reserved(4, hello), pingFrame(nil))),
			failCase(id(5), fmt.Sprintf("Send a small text message, then a frame with reserved %s opcode %d and a payload, then a ping, one byte per write.", kind, op(5)), failAfterEcho,
				echo, protocolError, SendChopped(1, textFrame(hello), reserved(5, hello), pingFrame(nil))),
		)
	}
	return out
}
