package wsconform

import "fmt"

// closeCases is Autobahn section 7: the closing handshake (RFC 6455
// sections 5.5.1 and 7). This client sends the first Close in every case;
// the server must answer it, with 1000 or the code it got when that code
// is valid, with 1002 when the Close is malformed (a dropped TCP
// connection also counts), and ignore whatever follows the Close. A WRONG
// CODE closing verdict fails the case, as in Autobahn.
func closeCases() []Case {
	hello := []byte("Hello World!")
	normal := closePayload(codeNormal, nil)
	const clean = "Clean close with 1000."

	out := []Case{
		closeCase("7.1.1", "Send a text message, then close once it is back.",
			"The message comes back, then a clean close with 1000.",
			[]Event{MessageEvent(false, hello)}, []int{codeNormal}, true, Send(textFrame(hello))),
		closeCase("7.1.2", "Send a Close, then a second close frame.", clean+" The second close frame is ignored.",
			nil, []int{codeNormal}, true, Send(startClose(normal), Frame{Fin: true, Opcode: OpClose})),
		closeCase("7.1.3", "Send a Close, then a ping.", clean+" No pong.",
			nil, []int{codeNormal}, true, Send(startClose(normal), pingFrame(nil))),
		closeCase("7.1.4", "Send a Close, then a text message.", clean+" The message is ignored.",
			nil, []int{codeNormal}, true, Send(startClose(normal), textFrame(hello))),
		closeCase("7.1.5", "Send the first fragment of a message, a Close, then the last fragment.", clean,
			nil, []int{codeNormal}, true,
			Send(fragment(OpText, false, []byte("fragment1")), startClose(normal), fragment(OpContinuation, true, []byte("fragment2")))),
		closeCase("7.3.1", "Send a Close with no payload (no code, no reason).", clean,
			nil, []int{codeNormal}, true, Send(startClose(nil))),
		closeCase("7.3.2", "Send a Close with a 1-byte payload.", "Clean close with 1002, or a dropped connection.",
			nil, protocolError, false, Send(startClose([]byte("a")))),
		closeCase("7.3.3", "Send a Close with code 1000 and no reason.", clean,
			nil, []int{codeNormal}, true, Send(startClose(normal))),
		closeCase("7.3.4", "Send a Close with code 1000 and a reason.", clean,
			nil, []int{codeNormal}, true, Send(startClose(closePayload(codeNormal, hello)))),
		closeCase("7.3.5", "Send a Close with code 1000 and a reason of 123 bytes, the most that fits.", clean,
			nil, []int{codeNormal}, true, Send(startClose(closePayload(codeNormal, repeat("*", 123))))),
		closeCase("7.3.6", "Send a Close with code 1000 and a reason of 124 bytes: a 126-byte control frame.",
			"Clean close with 1002, or a dropped connection.",
			nil, protocolError, false, Send(startClose(closePayload(codeNormal, repeat("*", 124))))),
		closeCase("7.5.1", "Send a Close with code 1000 and a reason that is not valid UTF-8.",
			"Clean close with 1002 or 1007, or a dropped connection.",
			nil, []int{codeProtocolError, 1007}, false,
			Send(startClose(closePayload(codeNormal, []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"))))),
	}
	// case7_7_X.py: valid codes; the server may answer 1000 or echo them.
	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		out = append(out, closeCase(fmt.Sprintf("7.7.%d", i+1), fmt.Sprintf("Send a Close with valid code %d.", code),
			"Clean close with 1000 or the same code.",
			nil, []int{codeNormal, code}, true, Send(startClose(closePayload(code, nil)))))
	}
	// case7_9_X.py: codes that must not be sent. The current list dropped
	// 1014 and 1015 (autobahn-testsuite PR #89); 1015 is still forbidden on
	// the wire by RFC 6455 section 7.4.1, so 7.9.x/1015 keeps it.
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		out = append(out, invalidCodeCase(fmt.Sprintf("7.9.%d", i+1), code))
	}
	out = append(out, variant(invalidCodeCase("7.9.x/1015", 1015)))
	// case7_13_x.py: codes beyond the 16-bit registry ranges.
	for i, code := range []int{5000, 65535} {
		c := closeCase(fmt.Sprintf("7.13.%d", i+1), fmt.Sprintf("Send a Close with code %d.", code),
			"Left open by RFC 6455: informational.",
			nil, []int{codeNormal, code, codeProtocolError}, false, Send(startClose(closePayload(code, nil))))
		c.Expect.Informational = true
		out = append(out, c)
	}
	return out
}

// closeCase: this client closes (by script, or once want is in when the
// script sends no Close) and the server must answer with one of codes.
func closeCase(id, desc, expectation string, want []Event, codes []int, clean bool, steps ...Step) Case {
	return Case{
		ID: id, Autobahn: id, Description: desc, Expectation: expectation,
		Steps: steps,
		Expect: Expect{
			OK:             want,
			CloseCodes:     codes,
			RequireClean:   clean,
			KeepOpen:       want == nil,
			Wait:           failWait,
			FailAfterWait:  true,
			WrongCodeFails: true,
		},
	}
}

// invalidCodeCase sends a Close whose code must not be sent; the server
// must fail with 1002 or drop TCP.
func invalidCodeCase(id string, code int) Case {
	return closeCase(id, fmt.Sprintf("Send a Close with invalid code %d.", code),
		"Clean close with 1002, or a dropped connection.",
		nil, protocolError, false, Send(startClose(closePayload(code, nil))))
}
