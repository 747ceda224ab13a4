// Tests of the message format: round trips, and corruption detection
// wherever the corruption is.

package main

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func mustCodec(t testing.TB, size int, text bool) *codec {
	t.Helper()
	c, err := newCodec(size, text)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMessageRoundTrip(t *testing.T) {
	for _, text := range []bool{false, true} {
		for _, size := range []int{minMessageSize(text), 64, 1000} {
			c := mustCodec(t, size, text)
			msg := make([]byte, size)
			for _, want := range []header{
				{seq: 0, sent: 0, connID: 0},
				{seq: 1, sent: 1234567 * time.Nanosecond, connID: 7},
				{seq: 1<<64 - 1, sent: 1<<63 - 1, connID: 1<<32 - 1},
			} {
				c.encode(msg, want)
				got, err := c.decode(c.messageType(), msg)
				if err != nil || got != want {
					t.Errorf("text=%v size=%d: decode(encode(%+v)) = %+v, %v", text, size, want, got, err)
				}
			}
		}
	}
}

// TestMessageCorruptionAnywhereIsDetected flips one bit at every position
// of a message, header and filler alike.
func TestMessageCorruptionAnywhereIsDetected(t *testing.T) {
	for _, text := range []bool{false, true} {
		c := mustCodec(t, 100, text)
		msg := make([]byte, c.size)
		c.encode(msg, header{seq: 42, sent: time.Second, connID: 3})
		for i := range msg {
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(msg)
				bad[i] ^= bit
				if _, err := c.decode(c.messageType(), bad); err == nil {
					t.Errorf("text=%v: flipping bit %#x of byte %d went unnoticed", text, bit, i)
				}
			}
		}
	}
}

func TestMessageRejectsWrongTypeAndLength(t *testing.T) {
	c := mustCodec(t, 64, false)
	msg := make([]byte, 65)
	c.encode(msg[:64], header{seq: 1})
	for _, tc := range []struct {
		name    string
		msgType int
		msg     []byte
		want    error
	}{
		{"text instead of binary", websocket.TextMessage, msg[:64], errWrongType},
		{"truncated", websocket.BinaryMessage, msg[:63], errWrongLength},
		{"too long", websocket.BinaryMessage, msg, errWrongLength},
		{"empty", websocket.BinaryMessage, nil, errWrongLength},
	} {
		if _, err := c.decode(tc.msgType, tc.msg); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestTextMessagesAreASCII(t *testing.T) {
	c := mustCodec(t, 200, true)
	msg := make([]byte, c.size)
	for seq := range uint64(100) {
		c.encode(msg, header{seq: seq, sent: time.Duration(seq) * 977, connID: uint32(seq)})
		for i, b := range msg {
			if b < 0x20 || b > 0x7e {
				t.Fatalf("seq %d: byte %d is %#x, not printable ASCII", seq, i, b)
			}
		}
	}
}

func TestFillerDependsOnSequence(t *testing.T) {
	c := mustCodec(t, 64, false)
	a, b := make([]byte, 64), make([]byte, 64)
	c.encode(a, header{seq: 1})
	c.encode(b, header{seq: 2})
	if bytes.Equal(a[headerSize:], b[headerSize:]) {
		t.Error("messages 1 and 2 have the same filler")
	}
}

func TestMinimumSize(t *testing.T) {
	if _, err := newCodec(23, false); err == nil {
		t.Error("binary size 23 accepted, the header needs 24")
	}
	if _, err := newCodec(47, true); err == nil {
		t.Error("text size 47 accepted, the hex header needs 48")
	}
}

// TestHotPathDoesNotAllocate guards the per-message cost of the tool.
func TestHotPathDoesNotAllocate(t *testing.T) {
	c := mustCodec(t, 1024, true)
	msg := make([]byte, c.size)
	var h histogram
	allocs := testing.AllocsPerRun(100, func() {
		c.encode(msg, header{seq: 5, sent: time.Millisecond, connID: 1})
		if _, err := c.decode(c.messageType(), msg); err != nil {
			t.Fatal(err)
		}
		h.record(time.Millisecond)
	})
	if allocs != 0 {
		t.Errorf("encode+decode+record allocate %v times per message, want 0", allocs)
	}
}

func BenchmarkEncodeDecode64(b *testing.B) {
	c := mustCodec(b, 64, false)
	msg := make([]byte, c.size)
	for i := uint64(0); b.Loop(); i++ {
		c.encode(msg, header{seq: i, sent: time.Duration(i), connID: 1})
		if _, err := c.decode(c.messageType(), msg); err != nil {
			b.Fatal(err)
		}
	}
}
