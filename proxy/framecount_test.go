package proxy

import (
	"testing"

	"github.com/wsedge/wsedge/internal/wsframe"
)

// TestFrameCounter: messages are counted however the stream is cut, with
// fragments, control frames, masks and every length encoding.
func TestFrameCounter(t *testing.T) {
	var stream []byte
	frame := func(fin bool, op wsframe.Opcode, n int, masked bool) {
		h := wsframe.Header{Fin: fin, Op: op, Masked: masked, Key: [4]byte{1, 2, 3, 4}, Length: uint64(n)}
		var hdr [wsframe.MaxHeaderLen]byte
		stream = append(stream, hdr[:h.Put(hdr[:])]...)
		stream = append(stream, make([]byte, n)...)
	}
	frame(true, wsframe.OpText, 5, true)         // 1
	frame(false, wsframe.OpBinary, 200, true)    // fragment
	frame(true, wsframe.OpPing, 3, true)         // control between fragments
	frame(true, wsframe.OpContinuation, 0, true) // 2
	frame(true, wsframe.OpBinary, 70000, false)  // 3, 64-bit length
	frame(true, wsframe.OpClose, 2, false)
	frame(true, wsframe.OpText, 0, false) // 4
	for _, cut := range []int{1, 2, 3, 7, 100, len(stream)} {
		var f frameCounter
		var got int64
		for i := 0; i < len(stream); i += cut {
			got += f.feed(stream[i:min(i+cut, len(stream))])
		}
		if got != 4 || f.left != 0 || f.headLen != 0 {
			t.Errorf("fed %d bytes at a time: %d messages (left %d, head %d), want 4 at a frame boundary", cut, got, f.left, f.headLen)
		}
	}
}
