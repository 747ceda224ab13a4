package wsconform

import (
	"encoding/hex"
	"fmt"
	"time"
)

// utf8Cases is a selection of Autobahn section 6. RFC 6455 section 8.1
// makes an endpoint fail the connection with 1007 on a text message that
// is not valid UTF-8; many servers (gorilla/websocket among them) leave
// that to the application and echo the bytes. Such an echo scores
// INFORMATIONAL here (Autobahn: FAILED), so a relay that does not check
// UTF-8 compares equal to the server behind it.
func utf8Cases() []Case {
	const hello = "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!" // case6_2_x.py
	kosme := []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")           // "κόσμε", case6_2_4.py
	// case6_3_1.py: valid, then a UTF-16 surrogate, then valid again.
	invalid := []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")
	middle := []byte("middle frame payload")
	const echoed = "The message comes back; clean close with 1000."

	out := []Case{
		echoCase("6.1.1", "Send a text message of length 0.", echoed,
			echoWait, false, []Event{MessageEvent(false, nil)}, Send(textFrame(nil))),
		echoCase("6.1.2", "Send a text message in 3 fragments, each of length 0.", echoed,
			echoWait, false, []Event{MessageEvent(false, nil)},
			Send(fragment(OpText, false, nil), fragment(OpContinuation, false, nil), fragment(OpContinuation, true, nil))),
		echoCase("6.1.3", "Send a text message in 3 fragments, the first and last of length 0.", echoed,
			echoWait, false, []Event{MessageEvent(false, middle)},
			Send(fragment(OpText, false, nil), fragment(OpContinuation, false, middle), fragment(OpContinuation, true, nil))),
		echoCase("6.2.1", "Send a valid UTF-8 text message in one fragment.", echoed,
			echoWait, false, []Event{MessageEvent(false, []byte(hello))}, Send(textFrame([]byte(hello)))),
		echoCase("6.2.2", "Send a valid UTF-8 text message in 2 fragments split on a code point boundary.", echoed,
			echoWait, false, []Event{MessageEvent(false, []byte(hello))},
			Send(fragments(OpText, []byte(hello), len("Hello-\u00b5@\u00df\u00f6\u00e4"))...)),
		echoCase("6.2.3", "Send a valid UTF-8 text message in fragments of 1 byte, most ending inside a code point.", echoed,
			echoWait, false, []Event{MessageEvent(false, []byte(hello))}, Send(fragments(OpText, []byte(hello), 1)...)),
		echoCase("6.2.4", "Send a valid UTF-8 text message (\"\u03ba\u1f79\u03c3\u03bc\u03b5\") in fragments of 1 byte.", echoed,
			echoWait, false, []Event{MessageEvent(false, kosme)}, Send(fragments(OpText, kosme, 1)...)),
		invalidUTF8Case("6.3.1", "Send an invalid UTF-8 text message in one fragment.", invalid, failWait, Send(textFrame(invalid))),
		invalidUTF8Case("6.3.2", "Send an invalid UTF-8 text message in fragments of 1 byte.", invalid, failWait,
			Send(fragments(OpText, invalid, 1)...)),
	}
	for _, seq := range utf8Sequences {
		p := []byte(seq.payload)
		desc := fmt.Sprintf("Send a text message whose payload is 0x%s (%s).", hex.EncodeToString(p), seq.what)
		if seq.valid {
			out = append(out, echoCase(seq.id, desc, echoed, utf8Wait, true,
				[]Event{MessageEvent(false, p)}, Send(textFrame(p))))
			continue
		}
		out = append(out, invalidUTF8Case(seq.id, desc, p, utf8Wait, Send(textFrame(p))))
	}
	return out
}

// invalidUTF8Case: the server must fail with 1007 before echoing anything;
// the wrong side closing is fatal (closedByWrongEndpointIsFatal). An echo
// of the unchanged bytes scores INFORMATIONAL (see utf8Cases).
func invalidUTF8Case(id, desc string, p []byte, wait time.Duration, steps ...Step) Case {
	c := failCase(id, desc, "The connection is failed (1007) since the payload is not valid UTF-8.",
		nil, []int{1007}, steps...)
	c.Expect.Wait = wait
	c.Expect.WrongEndpointFails = true
	c.Expect.UnvalidatedEcho = []Event{MessageEvent(false, p)}
	return c
}

// utf8Sequences are the cases picked from Autobahn's generated 6.5-6.23
// (case6_x_x.py, after Markus Kuhn's UTF-8-test.txt); the IDs follow that
// file's numbering: subsection 6.(5+i) for its i-th list, items from 1.
var utf8Sequences = []struct {
	id      string
	payload string
	valid   bool
	what    string
}{
	{"6.5.1", "hello\x24world", true, "U+0024"},
	{"6.5.2", "hello\xc2\xa2world", true, "U+00A2"},
	{"6.5.3", "hello\xe2\x82\xacworld", true, "U+20AC"},
	{"6.5.4", "hello\xf0\xa4\xad\xa2world", true, "U+24B62"},
	{"6.5.5", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true, "valid multi-byte text"},
	{"6.7.4", "\xf0\x90\x80\x80", true, "first 4-byte sequence, U+10000"},
	{"6.8.1", "\xf8\x88\x80\x80\x80", false, "5-byte sequence, beyond U+10FFFF"},
	{"6.11.4", "\xf4\x8f\xbf\xbf", true, "U+10FFFF, the last code point"},
	{"6.11.5", "\xf4\x90\x80\x80", false, "U+110000, past the last code point"},
	{"6.12.1", "\x80", false, "lone continuation byte"},
	{"6.16.1", "\xfe", false, "impossible byte 0xFE"},
	{"6.17.1", "\xc0\xaf", false, "overlong encoding of '/'"},
	{"6.20.1", "\xed\xa0\x80", false, "UTF-16 surrogate U+D800"},
	{"6.21.1", "\xed\xa0\x80\xed\xb0\x80", false, "paired UTF-16 surrogates"},
	{"6.22.1", "\xef\xbf\xbe", true, "non-character U+FFFE, valid UTF-8"},
}
