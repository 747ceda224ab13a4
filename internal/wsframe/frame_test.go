package wsframe

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		h       Header
		wantLen int
	}{
		{"empty text", Header{Fin: true, Op: OpText}, 2},
		{"125 bytes masked", Header{Fin: true, Op: OpBinary, Masked: true, Key: [4]byte{1, 2, 3, 4}, Length: 125}, 6},
		{"126 bytes: 16-bit length", Header{Op: OpText, Length: 126}, 4},
		{"65535 bytes", Header{Fin: true, Op: OpContinuation, Length: 0xffff}, 4},
		{"65536 bytes: 64-bit length", Header{Fin: true, Op: OpBinary, Length: 0x10000}, 10},
		{"largest, masked", Header{Fin: true, Op: OpBinary, Masked: true, Key: [4]byte{9, 8, 7, 6}, Length: 1<<63 - 1}, 14},
		{"reserved bits kept", Header{Fin: true, RSV: 0x70, Op: OpPing}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b [MaxHeaderLen]byte
			n := tc.h.Put(b[:])
			if n != tc.wantLen || tc.h.EncodedLen() != n || HeaderLen(b[1]) != n {
				t.Fatalf("encoded length %d (EncodedLen %d, HeaderLen %d), want %d", n, tc.h.EncodedLen(), HeaderLen(b[1]), tc.wantLen)
			}
			for short := range n {
				if _, got, err := ParseHeader(b[:short]); got != 0 || err != nil {
					t.Errorf("%d of %d bytes: got n=%d err=%v, want 0 (incomplete)", short, n, got, err)
				}
			}
			got, m, err := ParseHeader(b[:n])
			if err != nil || m != n || got != tc.h {
				t.Errorf("parsed %+v (n=%d, %v), want %+v (n=%d)", got, m, err, tc.h, n)
			}
		})
	}
}

func TestParseHeaderRefusesLengthWithTopBitSet(t *testing.T) {
	b := []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}
	if _, n, err := ParseHeader(b); err != ErrBadLength || n != 10 {
		t.Errorf("got n=%d err=%v, want n=10 and ErrBadLength", n, err)
	}
}

func naiveMask(key [4]byte, pos int, b []byte) {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
}

func TestMaskMatchesDefinition(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for _, size := range []int{0, 1, 3, 7, 8, 15, 16, 17, 64, 1000} {
		for pos := range 5 {
			src := make([]byte, size)
			for i := range src {
				src[i] = byte(i * 7)
			}
			want := bytes.Clone(src)
			naiveMask(key, pos, want)
			got := bytes.Clone(src)
			if end := Mask(key, pos, got); end != pos+size {
				t.Errorf("size %d pos %d: returned %d, want %d", size, pos, end, pos+size)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("size %d pos %d: masked differently from RFC 6455 section 5.3", size, pos)
			}
		}
	}
}

func TestMaskInPiecesEqualsWhole(t *testing.T) {
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	whole := bytes.Repeat([]byte("payload "), 40)
	pieces := bytes.Clone(whole)
	Mask(key, 0, whole)
	pos := 0
	for _, cut := range []int{3, 1, 17, 64, 5} {
		pos = Mask(key, pos, pieces[pos:pos+cut])
	}
	Mask(key, pos, pieces[pos:])
	if !bytes.Equal(whole, pieces) {
		t.Error("masking in pieces differs from masking at once")
	}
}

func TestAppendControl(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	frame := AppendControl(nil, OpPing, []byte("hi"), true, key)
	h, n, err := ParseHeader(frame)
	if err != nil || n != 6 || !h.Fin || h.Op != OpPing || !h.Masked || h.Key != key || h.Length != 2 {
		t.Fatalf("header %+v n=%d err=%v", h, n, err)
	}
	payload := bytes.Clone(frame[n:])
	Mask(key, 0, payload)
	if string(payload) != "hi" {
		t.Errorf("payload %q, want %q", payload, "hi")
	}
}

func TestParseClose(t *testing.T) {
	payload := func(code int, reason string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
	}
	cases := []struct {
		name     string
		payload  []byte
		wantCode int
		wantErr  int // close code to fail with, or 0
	}{
		{"empty", nil, CloseNoStatus, 0},
		{"one byte", []byte{3}, 0, CloseProtocolError},
		{"normal with reason", payload(1000, "bye"), 1000, 0},
		{"application code", payload(4999, ""), 4999, 0},
		{"1012 registered", payload(1012, ""), 1012, 0},
		{"999", payload(999, ""), 0, CloseProtocolError},
		{"1004 reserved", payload(1004, ""), 0, CloseProtocolError},
		{"1005 never on the wire", payload(1005, ""), 0, CloseProtocolError},
		{"1006 never on the wire", payload(1006, ""), 0, CloseProtocolError},
		{"1015 never on the wire", payload(1015, ""), 0, CloseProtocolError},
		{"1016 unassigned", payload(1016, ""), 0, CloseProtocolError},
		{"2999", payload(2999, ""), 0, CloseProtocolError},
		{"5000", payload(5000, ""), 0, CloseProtocolError},
		{"invalid UTF-8 reason", payload(1000, "\xce\xba\xe1\xbd"), 0, CloseInvalidPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, err := ParseClose(tc.payload)
			switch {
			case tc.wantErr != 0 && (err == nil || err.Code != tc.wantErr):
				t.Errorf("got %v, want failure with %d", err, tc.wantErr)
			case tc.wantErr == 0 && (err != nil || code != tc.wantCode):
				t.Errorf("got code %d err %v, want %d", code, err, tc.wantCode)
			}
		})
	}
}

func TestAppendClosePayloadCutsReasonAtRuneBoundary(t *testing.T) {
	reason := string(bytes.Repeat([]byte("é"), 100)) // 200 bytes
	p := AppendClosePayload(nil, 1001, reason)
	if len(p) > MaxControlPayload {
		t.Fatalf("payload %d bytes, over %d", len(p), MaxControlPayload)
	}
	if _, _, err := ParseClose(p); err != nil {
		t.Errorf("cut reason is not a valid close payload: %v", err)
	}
}

// FuzzParseHeader: any bytes parse without panicking; a complete header
// reports the length its second byte implies, and re-encoding it is never
// longer (Put uses the shortest length encoding) and parses back the same.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4, 'h'})
	f.Add([]byte{0x02, 126, 1, 0})
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseHeader(b)
		if n == 0 {
			if len(b) >= 2 && len(b) >= HeaderLen(b[1]) {
				t.Fatalf("complete header reported incomplete: % x", b)
			}
			return
		}
		if n != HeaderLen(b[1]) || n > len(b) || n > MaxHeaderLen {
			t.Fatalf("n=%d for % x", n, b)
		}
		if err != nil {
			return
		}
		var enc [MaxHeaderLen]byte
		m := h.Put(enc[:])
		if m > n {
			t.Fatalf("re-encoded header longer (%d) than parsed (%d)", m, n)
		}
		back, k, err := ParseHeader(enc[:m])
		if err != nil || k != m || back != h {
			t.Fatalf("round trip: %+v -> %+v (%v)", h, back, err)
		}
	})
}

// FuzzParseClose: any payload is either refused with 1002 or 1007, or is
// empty or carries a code that may be sent on the wire and a UTF-8 reason.
func FuzzParseClose(f *testing.F) {
	f.Add([]byte{0x03, 0xe8, 'o', 'k'})
	f.Add([]byte{0x03})
	f.Add([]byte{0x03, 0xed})
	f.Fuzz(func(t *testing.T, p []byte) {
		code, reason, err := ParseClose(p)
		if err != nil {
			if err.Code != CloseProtocolError && err.Code != CloseInvalidPayload {
				t.Fatalf("refused with %d", err.Code)
			}
			return
		}
		if len(p) == 0 {
			if code != CloseNoStatus {
				t.Fatalf("empty payload: code %d", code)
			}
			return
		}
		if !ValidCloseCode(code) || len(reason) != len(p)-2 {
			t.Fatalf("accepted code %d reason %q from % x", code, reason, p)
		}
	})
}
