package proxy

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/wsedge/wsedge/internal/wsframe"
)

var testToken = [pingTokenLen]byte{'w', 's', 'e', 'd', 'g', 'e', '!', '?'}

// frame builds one frame; a client frame is masked with key.
func frame(fin bool, op wsframe.Opcode, payload []byte, masked bool, key [4]byte) []byte {
	h := wsframe.Header{Fin: fin, Op: op, Masked: masked, Key: key, Length: uint64(len(payload))}
	out := make([]byte, h.EncodedLen(), h.EncodedLen()+len(payload))
	h.Put(out)
	start := len(out)
	out = append(out, payload...)
	if masked {
		wsframe.Mask(key, 0, out[start:])
	}
	return out
}

func clientFrame(fin bool, op wsframe.Opcode, payload string) []byte {
	return frame(fin, op, []byte(payload), true, [4]byte{0x11, 0x22, 0x33, 0x44})
}

func serverFrame(fin bool, op wsframe.Opcode, payload string) []byte {
	return frame(fin, op, []byte(payload), false, [4]byte{})
}

func closeBody(code int, reason string) string {
	return string(binary.BigEndian.AppendUint16(nil, uint16(code))) + reason
}

// scanEvents is what a scan of a whole stream gave: the bytes forwarded
// and the events, as a session would see them.
type scanEvents struct {
	out    []byte
	events []string
}

// runScanner feeds stream to s in reads of the given sizes, the way a
// session does: after the carry, in a buffer with headroom, resuming after
// a failure. When inject is set, scan is asked to stop at frame
// boundaries at random and a marker frame is written there.
func runScanner(s *scanner, stream []byte, reads []int, inject *rand.Rand) scanEvents {
	var got scanEvents
	buf := make([]byte, carryCap+len(stream)+1)
	for len(stream) > 0 {
		n := min(reads[0], len(stream))
		reads = reads[1:]
		if len(reads) == 0 {
			reads = []int{len(stream)}
		}
		copy(buf[carryCap:], stream[:n])
		stream = stream[n:]
		r := s.takeCarry(buf, carryCap)
		data := buf[:carryCap+n]
		for {
			res := s.scan(data, r, inject != nil && inject.IntN(3) == 0)
			got.out = append(got.out, data[r:res.out]...)
			switch res.event {
			case scanBoundary:
				got.out = append(got.out, markerFrame...)
			case scanClose:
				got.events = append(got.events, "close "+itoa(res.code))
			case scanFail:
				got.events = append(got.events, "fail "+itoa(res.code)+" "+res.reason)
			}
			if res.event == scanEnd || res.event == scanClose {
				break
			}
			r = res.next
		}
	}
	return got
}

// markerFrame is what the tests inject at boundaries: an unmasked pong
// with a payload no test stream uses.
var markerFrame = []byte{0x8a, 1, 0xee}

func itoa(n int) string { return string(binary.AppendVarint(nil, int64(n))) }

func newTestScanner(fromClient bool, maxMessage int64) *scanner {
	return &scanner{fromClient: fromClient, rules: &relayRules{maxMessage: maxMessage, keys: newMaskKeys(), pingToken: testToken}}
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

func TestScannerRules(t *testing.T) {
	ourPong := clientFrame(true, wsframe.OpPong, string(testToken[:]))
	hello := clientFrame(true, wsframe.OpText, "hello")
	cases := []struct {
		name       string
		fromClient bool
		maxMessage int64
		stream     []byte
		wantOut    []byte
		wantEvents []string
	}{
		{"data and control pass as they are", true, 0,
			cat(hello, clientFrame(false, wsframe.OpBinary, "ab"), clientFrame(true, wsframe.OpPing, "p"), clientFrame(true, wsframe.OpContinuation, "cd")),
			cat(hello, clientFrame(false, wsframe.OpBinary, "ab"), clientFrame(true, wsframe.OpPing, "p"), clientFrame(true, wsframe.OpContinuation, "cd")), nil},
		{"0-byte message", true, 0, clientFrame(true, wsframe.OpBinary, ""), clientFrame(true, wsframe.OpBinary, ""), nil},
		{"our pong is consumed", true, 0, cat(hello, ourPong, hello), cat(hello, hello), nil},
		{"the peer's own pong is relayed", true, 0, clientFrame(true, wsframe.OpPong, "theirs"), clientFrame(true, wsframe.OpPong, "theirs"), nil},
		{"close ends the stream", true, 0,
			cat(hello, clientFrame(true, wsframe.OpClose, closeBody(4000, "bye")), hello),
			cat(hello, clientFrame(true, wsframe.OpClose, closeBody(4000, "bye"))), []string{"close " + itoa(4000)}},
		{"close without status", false, 0, serverFrame(true, wsframe.OpClose, ""), serverFrame(true, wsframe.OpClose, ""), []string{"close " + itoa(1005)}},
		{"reserved bits", true, 0, cat(hello, func() []byte { f := clientFrame(true, wsframe.OpText, "x"); f[0] |= 0x40; return f }()),
			hello, []string{"fail " + itoa(1002) + " " + reasonReservedBits}},
		{"reserved opcode", true, 0, cat(hello, clientFrame(true, 3, "x")), hello, []string{"fail " + itoa(1002) + " " + reasonReservedOpcode}},
		{"unmasked client frame", true, 0, serverFrame(true, wsframe.OpText, "x"), nil, []string{"fail " + itoa(1002) + " " + reasonUnmasked}},
		{"masked server frame", false, 0, clientFrame(true, wsframe.OpText, "x"), nil, []string{"fail " + itoa(1002) + " " + reasonMasked}},
		{"fragmented ping", true, 0, clientFrame(false, wsframe.OpPing, "x"), nil, []string{"fail " + itoa(1002) + " " + reasonControlFragment}},
		{"126-byte ping", true, 0, clientFrame(true, wsframe.OpPing, string(make([]byte, 126))), nil, []string{"fail " + itoa(1002) + " " + reasonControlTooLong}},
		{"continuation without a message", true, 0, clientFrame(true, wsframe.OpContinuation, "x"), nil, []string{"fail " + itoa(1002) + " " + reasonNoMessage}},
		{"new message inside a fragmented one", true, 0, cat(clientFrame(false, wsframe.OpText, "a"), clientFrame(true, wsframe.OpText, "b")),
			clientFrame(false, wsframe.OpText, "a"), []string{"fail " + itoa(1002) + " " + reasonMessageOpen}},
		{"limit counts every fragment", true, 10, cat(clientFrame(false, wsframe.OpBinary, "123456"), clientFrame(true, wsframe.OpContinuation, "7890a")),
			clientFrame(false, wsframe.OpBinary, "123456"), []string{"fail " + itoa(1009) + " " + reasonTooBig}},
		{"limit is per message", true, 10, cat(clientFrame(true, wsframe.OpBinary, "123456"), clientFrame(true, wsframe.OpBinary, "7890")),
			cat(clientFrame(true, wsframe.OpBinary, "123456"), clientFrame(true, wsframe.OpBinary, "7890")), nil},
		{"close with 1-byte payload", true, 0, clientFrame(true, wsframe.OpClose, "x"), nil, []string{"fail " + itoa(1002) + " close frame payload of 1 byte"}},
		{"close with code 1005", true, 0, clientFrame(true, wsframe.OpClose, closeBody(1005, "")), nil, []string{"fail " + itoa(1002) + " invalid close code"}},
		{"close reason not UTF-8", true, 0, clientFrame(true, wsframe.OpClose, closeBody(1000, "\xff")), nil, []string{"fail " + itoa(1007) + " close reason is not UTF-8"}},
		{"a failed leg's close is still found", true, 0,
			cat(clientFrame(true, 3, "bad"), hello, clientFrame(true, wsframe.OpClose, closeBody(1002, ""))), nil,
			[]string{"fail " + itoa(1002) + " " + reasonReservedOpcode, "close " + itoa(1002)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, reads := range [][]int{{len(tc.stream)}, {1}, {3, 5, 2}} {
				got := runScanner(newTestScanner(tc.fromClient, tc.maxMessage), tc.stream, reads, nil)
				if !bytes.Equal(got.out, tc.wantOut) {
					t.Errorf("reads of %v: forwarded % x, want % x", reads, got.out, tc.wantOut)
				}
				if !slices.Equal(got.events, tc.wantEvents) {
					t.Errorf("reads of %v: events %q, want %q", reads, got.events, tc.wantEvents)
				}
			}
		})
	}
}

// TestScannerRemask: with remask, every forwarded client frame carries a
// new key, and unmasking gives the client's payload back.
func TestScannerRemask(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 1000)
	stream := cat(frame(false, wsframe.OpText, big, true, [4]byte{1, 2, 3, 4}),
		clientFrame(true, wsframe.OpPing, "ping"),
		frame(true, wsframe.OpContinuation, big, true, [4]byte{5, 6, 7, 8}))
	s := newTestScanner(true, 0)
	s.rules.remask = true
	got := runScanner(s, stream, []int{7, 1000, 3}, nil)
	if len(got.out) != len(stream) || bytes.Equal(got.out, stream) {
		t.Fatalf("remasked stream: %d bytes, equal to the input: %v", len(got.out), bytes.Equal(got.out, stream))
	}
	in, out := payloads(t, stream), payloads(t, got.out)
	for i := range in {
		if in[i].key == out[i].key {
			t.Errorf("frame %d kept its key", i)
		}
		if !bytes.Equal(in[i].data, out[i].data) {
			t.Errorf("frame %d: payload changed by remasking", i)
		}
	}
}

type parsedFrame struct {
	h    wsframe.Header
	key  [4]byte
	data []byte // unmasked payload
}

// payloads parses a stream of whole frames and unmasks their payloads.
func payloads(t *testing.T, b []byte) []parsedFrame {
	t.Helper()
	var out []parsedFrame
	for len(b) > 0 {
		h, n, err := wsframe.ParseHeader(b)
		if n == 0 || err != nil || len(b) < n+int(h.Length) {
			t.Fatalf("not a stream of whole frames at % x", b[:min(len(b), 16)])
		}
		data := bytes.Clone(b[n : n+int(h.Length)])
		if h.Masked {
			wsframe.Mask(h.Key, 0, data)
		}
		out = append(out, parsedFrame{h, h.Key, data})
		b = b[n+int(h.Length):]
	}
	return out
}

// FuzzScanner: however a stream is cut into reads, the scanner forwards
// the same bytes and reports the same events; frames a session injects at
// boundaries land only between whole frames; and a stream of valid frames
// is forwarded unchanged but for our own pongs.
func FuzzScanner(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'}, uint64(1), true, uint16(0))
	f.Add(cat(clientFrame(false, wsframe.OpText, "ab"), clientFrame(true, wsframe.OpPing, "p"), clientFrame(true, wsframe.OpContinuation, "c")), uint64(7), true, uint16(4))
	f.Add(cat(serverFrame(true, wsframe.OpBinary, "xyz"), serverFrame(true, wsframe.OpClose, closeBody(1000, "ok"))), uint64(3), false, uint16(0))
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1}, uint64(5), false, uint16(100))
	f.Fuzz(func(t *testing.T, stream []byte, seed uint64, fromClient bool, limit uint16) {
		whole := runScanner(newTestScanner(fromClient, int64(limit)), stream, []int{len(stream)}, nil)
		rng := rand.New(rand.NewPCG(seed, 1))
		var reads []int
		for range 16 {
			reads = append(reads, 1+rng.IntN(20))
		}
		pieces := runScanner(newTestScanner(fromClient, int64(limit)), stream, reads, nil)
		if !bytes.Equal(whole.out, pieces.out) || !slices.Equal(whole.events, pieces.events) {
			t.Fatalf("reads of %v changed the result:\nwhole  % x %q\npieces % x %q", reads, whole.out, whole.events, pieces.out, pieces.events)
		}
		injected := runScanner(newTestScanner(fromClient, int64(limit)), stream, reads, rand.New(rand.NewPCG(seed, 2)))
		if stripped := stripMarkers(t, injected.out); !bytes.Equal(stripped, whole.out) || !slices.Equal(injected.events, whole.events) {
			t.Fatalf("frames injected at boundaries were not between whole frames, or changed the rest")
		}
		if len(whole.events) == 0 && validStream(stream, fromClient) && !bytes.Equal(whole.out, withoutOurPongs(t, stream)) {
			t.Fatalf("a valid stream was changed: % x -> % x", stream, whole.out)
		}
	})
}

// stripMarkers parses b as frames from the injecting scan (whose output
// may end inside a frame) and removes the marker frames; a marker found
// inside another frame's payload is not stripped, so the comparison fails.
func stripMarkers(t *testing.T, b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		if bytes.HasPrefix(b, markerFrame) {
			b = b[len(markerFrame):]
			continue
		}
		h, n, err := wsframe.ParseHeader(b)
		if n == 0 || err != nil || len(b) < n+int(h.Length) {
			return append(out, b...) // the unfinished end
		}
		out = append(out, b[:n+int(h.Length)]...)
		b = b[n+int(h.Length):]
	}
	return out
}

// validStream reports whether b is whole frames that break no rule the
// scanner checks, with no close frame.
func validStream(b []byte, fromClient bool) bool {
	inMessage := false
	for len(b) > 0 {
		h, n, err := wsframe.ParseHeader(b)
		if n == 0 || err != nil || uint64(len(b)-n) < h.Length || h.RSV != 0 || !h.Op.IsDefined() || h.Masked != fromClient || h.Op == wsframe.OpClose {
			return false
		}
		if h.Op.IsControl() {
			if !h.Fin || h.Length > 125 {
				return false
			}
		} else {
			if (h.Op == wsframe.OpContinuation) != inMessage {
				return false
			}
			inMessage = !h.Fin
		}
		b = b[n+int(h.Length):]
	}
	return true
}

func withoutOurPongs(t *testing.T, b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		h, n, _ := wsframe.ParseHeader(b)
		f := b[:n+int(h.Length)]
		b = b[len(f):]
		if h.Op == wsframe.OpPong && h.Length == pingTokenLen {
			p := bytes.Clone(f[n:])
			if h.Masked {
				wsframe.Mask(h.Key, 0, p)
			}
			if bytes.Equal(p, testToken[:]) {
				continue
			}
		}
		out = append(out, f...)
	}
	return out
}
