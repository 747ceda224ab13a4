package wsconform

import "fmt"

// framingCases is Autobahn section 1: text (1.1.x) and binary (1.2.x)
// messages of every length encoding boundary of RFC 6455 section 5.2
// (7-bit up to 125, 16-bit from 126, 64-bit from 65536), the last one
// written in 997-byte pieces.
func framingCases() []Case {
	sizes := []int{0, 125, 126, 127, 128, 65535, 65536}
	var out []Case
	for sub, typ := range []dataType{
		{"text", false, OpText, "*"},       // case1_1_x.py: "*" * n
		{"binary", true, OpBinary, "\xfe"}, // case1_2_x.py: "\xfe" * n
	} {
		add := func(index, n, chop int) {
			p := repeat(typ.fill, n)
			id := fmt.Sprintf("1.%d.%d", sub+1, index)
			wait := echoWait
			if n >= 65535 { // killAfter(10) in 1.x.6-1.x.8
				wait = bigWait
			}
			desc := fmt.Sprintf("Send a %s message with a payload of %d bytes.", typ.name, n)
			step := Send(typ.frame(p))
			if chop > 0 {
				desc = fmt.Sprintf("Send a %s message with a payload of %d bytes, written in pieces of %d bytes.", typ.name, n, chop)
				step = SendChopped(chop, typ.frame(p))
			}
			out = append(out, echoCase(id, desc,
				fmt.Sprintf("The %s message comes back unchanged; clean close with 1000.", typ.name),
				wait, true, []Event{MessageEvent(typ.binary, p)}, step))
		}
		for i, n := range sizes {
			add(i+1, n, 0)
		}
		add(len(sizes)+1, 65536, 997)
	}
	return out
}

// pingCases is Autobahn section 2: pings must be answered with a pong
// carrying the same payload (RFC 6455 section 5.5.2), control payloads are
// limited to 125 bytes (section 5.5) and unsolicited pongs are ignored
// (section 5.5.3).
func pingCases() []Case {
	pongFor := func(p []byte) []Event { return []Event{PongEvent(p)} }
	hello := []byte("Hello, world!")
	small := []byte("\x00\xff\xfe\xfd\xfc\xfb\x00\xff")
	largest := repeat("\xfe", 125)
	tooBig := repeat("\xfe", 126)
	pingPayload := []byte("ping payload")
	unsolicited := []byte("unsolicited pong payload")

	var pings []Frame
	var pongs []Event
	for i := range 10 {
		p := []byte(fmt.Sprintf("payload-%d", i))
		pings = append(pings, pingFrame(p))
		pongs = append(pongs, PongEvent(p))
	}

	return []Case{
		echoCase("2.1", "Send a ping without payload.",
			"A pong without payload; clean close with 1000.",
			echoWait, false, pongFor(nil), Send(pingFrame(nil))),
		echoCase("2.2", "Send a ping with a small text payload.",
			"A pong with the same payload; clean close with 1000.",
			echoWait, false, pongFor(hello), Send(pingFrame(hello))),
		echoCase("2.3", "Send a ping with a small binary (non UTF-8) payload.",
			"A pong with the same payload; clean close with 1000.",
			echoWait, false, pongFor(small), Send(pingFrame(small))),
		echoCase("2.4", "Send a ping with a binary payload of 125 bytes.",
			"A pong with the same payload; clean close with 1000.",
			echoWait, false, pongFor(largest), Send(pingFrame(largest))),
		failCase("2.5", "Send a ping with a binary payload of 126 bytes.",
			"The connection is failed (1002): control frames carry at most 125 bytes.",
			nil, protocolError, Send(pingFrame(tooBig))),
		echoCase("2.6", "Send a ping with a binary payload of 125 bytes, written one byte per write.",
			"A pong with the same payload; clean close with 1000.",
			pongWait2, false, pongFor(largest), SendChopped(1, pingFrame(largest))),
		quietCase("2.7", "Send an unsolicited pong without payload, then close.",
			Send(pongFrame(nil), startClose(closePayload(codeNormal, nil)))),
		quietCase("2.8", "Send an unsolicited pong with payload, then close.",
			Send(pongFrame(unsolicited), startClose(closePayload(codeNormal, nil)))),
		echoCase("2.9", "Send an unsolicited pong with payload, then a ping with payload.",
			"Nothing for the pong; a pong with the ping's payload; clean close with 1000.",
			echoWait, false, pongFor(pingPayload), Send(pongFrame(unsolicited), pingFrame(pingPayload))),
		echoCase("2.10", "Send 10 pings with payload.",
			"A pong for every ping, in order (not required by RFC 6455, checked anyway); clean close with 1000.",
			pongWait3, false, pongs, Send(pings...)),
		echoCase("2.11", "Send 10 pings with payload, written one byte per write.",
			"A pong for every ping, in order; clean close with 1000.",
			pongWait3, false, pongs, SendChopped(1, pings...)),
	}
}

// quietCase: the script ends with this client's Close and nothing may come
// back but the server's Close (Autobahn 2.7 and 2.8, closeAfter(1)).
func quietCase(id, desc string, steps ...Step) Case {
	return echoCase(id, desc, "Nothing comes back; clean close with 1000.", echoWait, false, nil, steps...)
}
