package proxy

import "github.com/wsedge/wsedge/internal/wsframe"

// frameCounter follows a stream of frames as it passes, to count the
// messages that end in it: a built-in connection's frames are read and
// written by gorilla, and the metrics count its messages as the relay
// counts a proxied route's. It only finds frame boundaries (RFC 6455
// section 5.2); gorilla checks the frames. With a budget (rate), it also
// judges the client's frames against its message rate, as a proxied
// client's scanner does.
type frameCounter struct {
	left    uint64 // payload bytes of the current frame still to pass
	head    [wsframe.MaxHeaderLen]byte
	headLen int
	lost    bool // the stream stopped parsing (gorilla fails it too)
	// oneByteClose is set once a close frame with a 1-byte payload has
	// passed: RFC 6455 section 5.5.1 allows 0 or at least 2, and gorilla
	// takes 1 as "no status".
	oneByteClose bool
	// closed is set once a close frame's header has passed.
	closed bool
	// rate, if set, is the client's budget (limits.client_message_rate):
	// pass stops before a data frame it has no room for.
	rate *messageBudget
}

// feed passes b and returns the messages that ended in it: data frames
// (or continuations) with FIN set.
func (f *frameCounter) feed(b []byte) (messages int64) {
	_, messages = f.pass(b)
	return messages
}

// pass is feed up to the first data frame the budget has no room for: it
// returns how much of b passed (all of it without a budget) and the
// messages that ended in it. What did not pass starts with that frame's
// header, or with the part of it b holds when the header began in an
// earlier b (that part passed, and waits for the rest); either way, its
// bytes in b are judged again when they are fed again.
func (f *frameCounter) pass(b []byte) (n int, messages int64) {
	i := 0
	for i < len(b) && !f.lost {
		if f.left > 0 {
			k := int(min(uint64(len(b)-i), f.left))
			f.left -= uint64(k)
			i += k
			continue
		}
		start, prior := i, f.headLen
		if !f.takeHeader(b, &i) {
			break
		}
		h, _, err := wsframe.ParseHeader(f.head[:f.headLen])
		if err != nil {
			f.lost = true
			break
		}
		if f.rate != nil {
			if h.Op.IsControl() {
				f.rate.charge(h.Length)
			} else if !f.rate.admit(h.Op != wsframe.OpContinuation, h.Length) {
				f.headLen = prior
				return start, messages
			}
		}
		f.headLen, f.left = 0, h.Length
		if h.Op == wsframe.OpClose {
			f.closed = true
			f.oneByteClose = f.oneByteClose || h.Length == 1
		}
		if h.Fin && !h.Op.IsControl() {
			messages++
		}
	}
	return len(b), messages
}

// takeHeader adds the header's bytes from b[*i:] to f.head and reports
// whether the header is whole.
func (f *frameCounter) takeHeader(b []byte, i *int) bool {
	for {
		need := 2
		if f.headLen >= 2 {
			need = wsframe.HeaderLen(f.head[1])
		}
		if f.headLen == need {
			return true
		}
		k := copy(f.head[f.headLen:need], b[*i:])
		f.headLen += k
		*i += k
		if f.headLen < need {
			return false
		}
	}
}
