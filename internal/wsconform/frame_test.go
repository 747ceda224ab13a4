package wsconform

import (
	"bufio"
	"bytes"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		for _, unmasked := range []bool{false, true} {
			payload := repeat("ab\xfe", n)
			in := Frame{Fin: n%2 == 0, RSV: 5, Opcode: OpBinary, Payload: payload, Unmasked: unmasked}
			wire, err := in.wire()
			if err != nil {
				t.Fatal(err)
			}
			out, err := readFrame(bufio.NewReader(bytes.NewReader(wire)), 1<<20)
			if err != nil {
				t.Fatalf("len %d unmasked %v: readFrame: %v", n, unmasked, err)
			}
			if out.fin != in.Fin || out.rsv != in.RSV || out.opcode != in.Opcode || out.masked == unmasked {
				t.Errorf("len %d unmasked %v: got fin %v rsv %d opcode %v masked %v, want %v %d %v %v",
					n, unmasked, out.fin, out.rsv, out.opcode, out.masked, in.Fin, in.RSV, in.Opcode, !unmasked)
			}
			if !bytes.Equal(out.payload, payload) {
				t.Errorf("len %d unmasked %v: payload differs after the round trip", n, unmasked)
			}
		}
	}
}

// TestFrameHeaderBits checks the wire encoding against RFC 6455 section
// 5.2 by hand, so the round trip cannot hide a symmetric mistake.
func TestFrameHeaderBits(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for _, tc := range []struct {
		name string
		f    Frame
		want []byte
	}{
		{"final text", Frame{Fin: true, Opcode: OpText, Payload: []byte("a")}, []byte{0x81, 0x81, 1, 2, 3, 4, 'a' ^ 1}},
		{"RSV 4 is RSV1", Frame{Fin: true, RSV: 4, Opcode: OpBinary, Unmasked: true}, []byte{0xc2, 0x00}},
		{"RSV 1 is RSV3", Frame{RSV: 1, Opcode: OpContinuation, Unmasked: true}, []byte{0x10, 0x00}},
		{"reserved opcode", Frame{Fin: true, Opcode: 11, Unmasked: true}, []byte{0x8b, 0x00}},
		{"16-bit length", Frame{Opcode: OpText, Payload: make([]byte, 126), Unmasked: true}, []byte{0x01, 126, 0, 126}},
		{"64-bit length", Frame{Opcode: OpText, Payload: make([]byte, 65536), Unmasked: true}, []byte{0x01, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		got := tc.f.appendWire(nil, key)
		if !bytes.HasPrefix(got, tc.want) {
			t.Errorf("%s: got % x, want prefix % x", tc.name, got[:min(len(got), 12)], tc.want)
		}
	}
}

func TestReadFrameRejectsBadLengths(t *testing.T) {
	tooBig := []byte{0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}
	if _, err := readFrame(bufio.NewReader(bytes.NewReader(tooBig)), 1<<20); err != errFrameTooLarge {
		t.Errorf("256 MiB frame: got %v, want errFrameTooLarge", err)
	}
	msbSet := []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}
	if _, err := readFrame(bufio.NewReader(bytes.NewReader(msbSet)), 1<<20); err != errBadLength {
		t.Errorf("length with MSB set: got %v, want errBadLength", err)
	}
}

func TestStepWrites(t *testing.T) {
	frames := []Frame{textFrame([]byte("hello")), pingFrame(nil)}
	encoded := make([][]byte, len(frames))
	for i, f := range frames {
		encoded[i] = f.appendWire(nil, [4]byte{9, 9, 9, 9})
	}
	whole := bytes.Join(encoded, nil)
	for _, tc := range []struct {
		name      string
		step      Step
		wantCount int
		maxLen    int
	}{
		{"together", Send(frames...), 1, len(whole)},
		{"each", SendEach(frames...), 2, len(encoded[0])},
		{"chopped by 1", SendChopped(1, frames...), len(whole), 1},
		{"chopped by 4", SendChopped(4, frames...), 3 + 2, 4},
	} {
		writes := tc.step.writes(encoded)
		if len(writes) != tc.wantCount {
			t.Errorf("%s: got %d writes, want %d", tc.name, len(writes), tc.wantCount)
		}
		for _, w := range writes {
			if len(w) > tc.maxLen {
				t.Errorf("%s: write of %d bytes, want at most %d", tc.name, len(w), tc.maxLen)
			}
		}
		if got := bytes.Join(writes, nil); !bytes.Equal(got, whole) {
			t.Errorf("%s: writes do not add up to the frames", tc.name)
		}
	}
}

func TestFragments(t *testing.T) {
	p := []byte("abcdefg")
	fs := fragments(OpText, p, 3)
	if len(fs) != 3 {
		t.Fatalf("got %d fragments, want 3", len(fs))
	}
	var joined []byte
	for i, f := range fs {
		wantOp, wantFin := OpContinuation, i == len(fs)-1
		if i == 0 {
			wantOp = OpText
		}
		if f.Opcode != wantOp || f.Fin != wantFin {
			t.Errorf("fragment %d: got opcode %v fin %v, want %v %v", i, f.Opcode, f.Fin, wantOp, wantFin)
		}
		joined = append(joined, f.Payload...)
	}
	if !bytes.Equal(joined, p) {
		t.Errorf("fragments join to %q, want %q", joined, p)
	}
	if empty := fragments(OpText, nil, 3); len(empty) != 1 || !empty[0].Fin {
		t.Errorf("empty message: got %+v, want one final frame", empty)
	}
}
