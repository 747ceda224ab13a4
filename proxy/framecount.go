package proxy

import "github.com/wsedge/wsedge/internal/wsframe"

// frameCounter follows a stream of frames as it passes, to count the
// messages that end in it: a built-in connection's frames are read and
// written by gorilla, and the metrics count its messages as the relay
// counts a proxied route's. It only finds frame boundaries (RFC 6455
// section 5.2); gorilla checks the frames.
type frameCounter struct {
	left    uint64 // payload bytes of the current frame still to pass
	head    [wsframe.MaxHeaderLen]byte
	headLen int
	lost    bool // the stream stopped parsing (gorilla fails it too)
	// oneByteClose is set once a close frame with a 1-byte payload has
	// passed: RFC 6455 section 5.5.1 allows 0 or at least 2, and gorilla
	// takes 1 as "no status".
	oneByteClose bool
}

// feed passes b and returns the messages that ended in it: data frames
// (or continuations) with FIN set.
func (f *frameCounter) feed(b []byte) (messages int64) {
	for len(b) > 0 && !f.lost {
		if f.left > 0 {
			k := min(uint64(len(b)), f.left)
			f.left -= k
			b = b[k:]
			continue
		}
		need := 2
		if f.headLen >= 2 {
			need = wsframe.HeaderLen(f.head[1])
		}
		k := copy(f.head[f.headLen:need], b)
		f.headLen += k
		b = b[k:]
		if f.headLen < need || need == 2 && wsframe.HeaderLen(f.head[1]) > 2 {
			continue
		}
		h, _, err := wsframe.ParseHeader(f.head[:f.headLen])
		if err != nil {
			f.lost = true
			return messages
		}
		f.headLen, f.left = 0, h.Length
		if h.Op == wsframe.OpClose && h.Length == 1 {
			f.oneByteClose = true
		}
		if h.Fin && !h.Op.IsControl() {
			messages++
		}
	}
	return messages
}
