package wsconform

import "testing"

// TestJudge checks the verdict rules on made-up observations, one per
// branch of Autobahn's onConnectionLost and of the section overrides.
func TestJudge(t *testing.T) {
	hello := []byte("Hello, world!")
	echo := []Event{MessageEvent(false, hello)}
	code := func(c int) *CloseFrame { return &CloseFrame{HasCode: true, Code: c, PayloadLen: 2} }
	// The three ways a connection commonly ends.
	serverFailed := func(c int, events ...Event) Observation {
		return Observation{Opened: true, Events: events, CloseReceived: code(c), CloseSent: code(1000),
			ClosingHandshake: true, WasClean: true, End: EndClean}
	}
	clientClosed := func(c int, events ...Event) Observation {
		return Observation{Opened: true, Events: events, CloseSent: code(1000), CloseReceived: code(c),
			ClosedByMe: true, ClosingHandshake: true, WasClean: true, End: EndClean}
	}
	killed := func(events ...Event) Observation {
		o := clientClosed(1001, events...)
		o.FailedByMe = true
		return o
	}

	fail := failCase("f", "", "", nil, protocolError, Send())
	failAfterEcho := failCase("e", "", "", echo, protocolError, Send())
	echoed := echoCase("o", "", "", echoWait, false, echo, Send())
	closing := closeCase("c", "", "", nil, []int{1000}, true, Send())
	badUTF8 := invalidUTF8Case("u", "", hello, utf8Wait, Send())
	info := closeCase("i", "", "", nil, []int{1000}, false, Send())
	info.Expect.Informational = true

	for _, tc := range []struct {
		name      string
		c         Case
		o         Observation
		verdict   Verdict
		closeWant CloseVerdict
	}{
		{"server fails with 1002", fail, serverFailed(1002), VerdictOK, CloseOK},
		{"server fails by dropping TCP", fail, Observation{Opened: true, End: EndServerDropped}, VerdictOK, CloseOK},
		{"server fails with another code", fail, serverFailed(1000), VerdictOK, CloseWrongCode},
		{"server ignores the error", fail, killed(), VerdictOK, CloseFailed},
		{"server processes the bad frame", fail, killed(echo...), VerdictFailed, CloseFailed},
		{"echo, then fail", failAfterEcho, serverFailed(1002, echo...), VerdictOK, CloseOK},
		{"fail before the echo", failAfterEcho, serverFailed(1002), VerdictNonStrict, CloseOK},
		{"echo and clean close", echoed, clientClosed(1000, echo...), VerdictOK, CloseOK},
		{"echo, server keeps TCP open", echoed, func() Observation {
			o := clientClosed(1000, echo...)
			o.WasClean, o.DroppedByMe, o.End = false, true, EndClientDropped
			return o
		}(), VerdictOK, CloseUnclean},
		{"no echo", echoed, clientClosed(1000), VerdictFailed, CloseOK},
		{"echo, then the server closes first", echoed, serverFailed(1000, echo...), VerdictOK, CloseFailed},
		{"close answered with 1000", closing, clientClosed(1000), VerdictOK, CloseOK},
		{"close answered without code", closing, func() Observation {
			o := clientClosed(1000)
			o.CloseReceived = &CloseFrame{}
			return o
		}(), VerdictOK, CloseOK},
		{"close answered with a wrong code", closing, clientClosed(1002), VerdictFailed, CloseWrongCode},
		{"invalid UTF-8 failed with 1007", badUTF8, serverFailed(1007), VerdictOK, CloseOK},
		{"invalid UTF-8 echoed unchanged", badUTF8, killed(MessageEvent(false, hello)), VerdictInformational, CloseInformational},
		{"invalid UTF-8 echoed altered", badUTF8, killed(MessageEvent(false, []byte("Hello, world?"))), VerdictFailed, CloseFailed},
		{"invalid UTF-8 ignored", badUTF8, killed(), VerdictFailed, CloseFailed},
		{"informational", info, serverFailed(1002), VerdictInformational, CloseInformational},
		{"not opened", echoed, Observation{HandshakeError: "status 403"}, VerdictFailed, CloseFailed},
	} {
		r := judge(&tc.c, tc.o)
		if r.Verdict != tc.verdict || r.CloseVerdict != tc.closeWant {
			t.Errorf("%s: got %s/%s, want %s/%s (notes %v)", tc.name, r.Verdict, r.CloseVerdict, tc.verdict, tc.closeWant, r.Notes)
		}
	}
}

func TestParseClose(t *testing.T) {
	for _, tc := range []struct {
		payload []byte
		hasCode bool
		code    int
		bad     bool
	}{
		{nil, false, 0, false},
		{[]byte("a"), false, 0, true},
		{closePayload(1000, []byte("bye")), true, 1000, false},
		{closePayload(1005, nil), true, 1005, true},
		{closePayload(1015, nil), true, 1015, true},
		{closePayload(1014, nil), true, 1014, false},
		{closePayload(4999, nil), true, 4999, false},
		{closePayload(5000, nil), true, 5000, true},
		{closePayload(1000, []byte{0xff}), true, 1000, true},
	} {
		cf, problem := parseClose(tc.payload)
		if cf.HasCode != tc.hasCode || cf.Code != tc.code || (problem != "") != tc.bad {
			t.Errorf("% x: got code %v %d problem %q, want %v %d bad %v", tc.payload, cf.HasCode, cf.Code, problem, tc.hasCode, tc.code, tc.bad)
		}
	}
}
