package proxy

import (
	"crypto/rand"
	"sync"

	"github.com/wsedge/wsedge/internal/wsframe"
)

// scanner follows the frames one leg sends (RFC 6455 section 5.2) as they
// pass through a read buffer, and decides what reaches the other leg. It
// parses headers only: data payloads pass as they are, in pieces as they
// arrive, and a message is never reassembled. Everything happens in place
// in the buffer: what is forwarded is moved down over what is not (a pong
// that answers our ping), so one read becomes one write.
//
// It checks what a proxy must check so that neither peer is handed
// something invalid: the mask bit by direction (section 5.1), reserved bits
// and opcodes (5.2), control frames at most 125 bytes and unfragmented
// (5.5), the fragmentation sequence (5.4), close payloads (5.5.1, 7.4) and
// max_message_bytes summed over a message's fragments. Compressed frames
// (permessage-deflate, RSV1) pass as they are: the limit counts the bytes
// on the wire. It does not
// validate UTF-8 in text messages: that is the receiving peer's job, and
// passing the bytes unchanged keeps each peer's own verdict.
//
// A client's scanner also judges each frame against the client's message
// rate (see messageBudget), and stops before a data frame that does not
// fit.
//
// A scanner is used on its session's loop only.
type scanner struct {
	rules *relayRules
	// The data frame being forwarded: payload bytes still to come.
	payloadLeft uint64
	// The message being forwarded.
	messageBytes int64
	messages     int64 // messages whose last frame was forwarded, for the log
	// carry holds the unfinished header or control frame the last read
	// ended with; it is put back in front of the next read.
	carry *[carryCap]byte
	// For remasking: the XOR of the frame's old and new keys, and the
	// payload position (mod 4) it has reached.
	delta    [4]byte
	deltaPos uint8
	carryLen uint8
	// fromClient: frames must be masked; otherwise they must not be.
	fromClient bool
	inMessage  bool
	// discard: the leg has broken the protocol; what follows is parsed
	// (to find its close) but nothing is forwarded.
	discard bool
	// over: the leg's stream is over for the relay (after its close
	// frame, or once frame boundaries are lost to a header whose length
	// cannot be read): everything else it sends is dropped.
	over bool
	// rate is the client's budget (limits.client_message_rate); nil for
	// the backend's scanner and without a rate.
	rate *messageBudget
}

// relayRules are what the two scanners of a session share.
type relayRules struct {
	maxMessage int64 // 0: unlimited; counts payload bytes as on the wire (compressed or not)
	keys       *maskKeys
	pingToken  [pingTokenLen]byte // the payload of our own pings
	remask     bool               // forward client frames with fresh masking keys
	// deflate: the peers negotiated permessage-deflate (RFC 7692), whose
	// frames may carry RSV1.
	deflate bool
}

// rsv1 is the reserved bit permessage-deflate sets on the first frame of
// a compressed message (RFC 7692 section 6).
const rsv1 = 0x40

// carryCap is the longest unfinished piece a read can end with: a whole
// control frame (header and 125-byte payload) minus its last byte. A data
// frame's header is shorter; data payloads are never carried.
const carryCap = wsframe.MaxControlFrameLen

// pingTokenLen is the length of the payload wsedge's keepalive pings
// carry: a random token per session, so that a pong answering one can be
// told from the peers' own pongs, which are relayed.
const pingTokenLen = 8

// scanEvent says why scan returned.
type scanEvent uint8

const (
	// scanEnd: the whole input was consumed.
	scanEnd scanEvent = iota
	// scanBoundary: stopped between two frames, as asked.
	scanBoundary
	// scanClose: a valid close frame was forwarded; the leg sends nothing
	// after it.
	scanClose
	// scanFail: the leg broke the protocol or the message limit.
	scanFail
	// scanOverRate: stopped before a data frame the client's budget has
	// no room for; next is its header. With on_exceed close the scanner
	// discards from there on; otherwise the caller holds buf[next:] until
	// the frame fits.
	scanOverRate
)

// scanResult is what scan did with its input. After scanBoundary and
// scanFail the caller continues with a new scan from next (a failed leg's
// scanner discards, looking only for its close frame).
type scanResult struct {
	event scanEvent
	// out ends the bytes to forward: buf[start:out] for scan's start.
	out int
	// next is where to resume after scanBoundary, scanFail or
	// scanOverRate.
	next int
	// closeAt starts the close frame within the output (scanClose).
	closeAt int
	// code is the close frame's code (scanClose; 1005 for none), or the
	// code to fail the leg with (scanFail).
	code int
	// reason says what was wrong (scanFail).
	reason string
}

// Reasons for failing a leg, sent in its close frame and logged.
const (
	reasonBadLength       = "frame length has its top bit set"
	reasonReservedBits    = "reserved bits set"
	reasonReservedOpcode  = "reserved opcode"
	reasonUnmasked        = "client frame not masked"
	reasonMasked          = "server frame masked"
	reasonControlFragment = "fragmented control frame"
	reasonControlTooLong  = "control frame over 125 bytes"
	reasonNoMessage       = "continuation frame outside a message"
	reasonMessageOpen     = "new message before the last one ended"
	reasonTooBig          = "message too big"
)

// scan processes buf[start:]. It stops at the first frame boundary when
// stopAtBoundary is set (the caller has a control frame to put there).
func (s *scanner) scan(buf []byte, start int, stopAtBoundary bool) scanResult {
	r, w := start, start
	for r < len(buf) {
		if s.payloadLeft > 0 {
			k := int(min(s.payloadLeft, uint64(len(buf)-r)))
			s.payloadLeft -= uint64(k)
			if s.discard {
				r += k
				continue
			}
			if s.remasking() {
				s.deltaPos = uint8(wsframe.Mask(s.delta, int(s.deltaPos), buf[r:r+k]) & 3)
			}
			w = moveDown(buf, w, r, k)
			r += k
			continue
		}
		if s.over {
			break
		}
		if stopAtBoundary {
			return scanResult{event: scanBoundary, out: w, next: r}
		}
		h, n, err := wsframe.ParseHeader(buf[r:])
		if n == 0 {
			s.keepCarry(buf[r:])
			break
		}
		if err != nil {
			res := s.fail(w, wsframe.CloseProtocolError, reasonBadLength)
			s.over = true
			res.next = len(buf)
			return res
		}
		if s.discard {
			if h.Op == wsframe.OpClose && h.Length <= wsframe.MaxControlPayload {
				if len(buf)-r < n+int(h.Length) {
					s.keepCarry(buf[r:])
					break
				}
				if code, ok := s.closeCode(&h, buf[r+n:r+n+int(h.Length)]); ok {
					s.over = true
					return scanResult{event: scanClose, out: w, closeAt: w, code: code, next: len(buf)}
				}
			}
			s.payloadLeft = h.Length
			r += n
			continue
		}
		if reason := s.check(&h); reason != "" {
			return s.failFrame(w, &h, r+n, wsframe.CloseProtocolError, reason)
		}
		if h.Op.IsControl() {
			total := n + int(h.Length)
			if len(buf)-r < total {
				s.keepCarry(buf[r:])
				break
			}
			if s.rate != nil {
				s.rate.charge(h.Length)
			}
			res, forward := s.control(&h, buf[r:r+total], n, w)
			if forward {
				w = moveDown(buf, w, r, total)
			}
			r += total
			if res.event != scanEnd {
				res.out, res.next = w, r
				return res
			}
			continue
		}
		if limit := s.rules.maxMessage; limit > 0 && h.Length > uint64(limit-s.messageBytes) {
			return s.failFrame(w, &h, r+n, wsframe.CloseMessageTooBig, reasonTooBig)
		}
		if s.rate != nil && !s.rate.admit(h.Op != wsframe.OpContinuation, h.Length) {
			return s.overRate(w, r)
		}
		s.startData(&h, buf[r:r+n])
		w = moveDown(buf, w, r, n)
		r += n
	}
	return scanResult{event: scanEnd, out: w}
}

// moveDown moves the k bytes at buf[r:] to buf[w:] (w <= r), where the
// output of the scan has reached, and returns the new end of the output.
// Until something is dropped the two are the same place, and nothing is
// copied.
func moveDown(buf []byte, w, r, k int) int {
	if w != r {
		copy(buf[w:w+k], buf[r:r+k])
	}
	return w + k
}

// midFrame reports whether part of a frame has been forwarded and the
// rest has not: nothing else may be put in the stream until it has.
func (s *scanner) midFrame() bool { return s.payloadLeft > 0 && !s.discard && !s.over }

// check returns what is wrong with a header, or "".
func (s *scanner) check(h *wsframe.Header) string {
	switch {
	case h.RSV != 0 && !s.rsvAllowed(h):
		return reasonReservedBits
	case !h.Op.IsDefined():
		return reasonReservedOpcode
	case h.Masked != s.fromClient:
		if s.fromClient {
			return reasonUnmasked
		}
		return reasonMasked
	case h.Op.IsControl() && !h.Fin:
		return reasonControlFragment
	case h.Op.IsControl() && h.Length > wsframe.MaxControlPayload:
		return reasonControlTooLong
	case h.Op == wsframe.OpContinuation && !s.inMessage:
		return reasonNoMessage
	case h.Op != wsframe.OpContinuation && !h.Op.IsControl() && s.inMessage:
		return reasonMessageOpen
	}
	return ""
}

// rsvAllowed reports whether h's reserved bits mean something here: RSV1
// on the first frame of a data message, once permessage-deflate is
// negotiated. It is a protocol error anywhere else: on a continuation
// or a control frame (RFC 7692 section 6.1 and 6), and RSV2 or RSV3
// always, no extension using them being relayed.
func (s *scanner) rsvAllowed(h *wsframe.Header) bool {
	return s.rules.deflate && h.RSV == rsv1 && (h.Op == wsframe.OpText || h.Op == wsframe.OpBinary)
}

// startData begins forwarding a data frame whose header is hdr (in the
// buffer, rewritten in place when remasking).
func (s *scanner) startData(h *wsframe.Header, hdr []byte) {
	s.payloadLeft = h.Length
	s.messageBytes += int64(h.Length)
	s.inMessage = !h.Fin
	if h.Fin {
		s.messageBytes = 0
		s.messages++
	}
	if s.remasking() {
		s.rekey(h, hdr)
	}
}

// remasking reports whether forwarded frames get fresh masking keys.
func (s *scanner) remasking() bool { return s.fromClient && s.rules.remask }

// rekey gives the frame whose header is hdr a fresh masking key (the
// key is the header's last four bytes) and prepares the payload's re-XOR.
func (s *scanner) rekey(h *wsframe.Header, hdr []byte) {
	key := s.rules.keys.next()
	for i := range key {
		s.delta[i] = h.Key[i] ^ key[i]
	}
	copy(hdr[len(hdr)-4:], key[:])
	s.deltaPos = 0
}

// control handles a whole control frame (header length n) and reports
// whether to forward it. Our keepalive's pongs are consumed; the peers'
// own pings and pongs are relayed, for the other peer to answer; a close
// frame ends the leg's stream.
func (s *scanner) control(h *wsframe.Header, frame []byte, n, w int) (scanResult, bool) {
	payload := frame[n:]
	switch h.Op {
	case wsframe.OpPong:
		if s.isOurPong(h, payload) {
			return scanResult{}, false
		}
	case wsframe.OpClose:
		code, ok := s.closeCode(h, payload)
		if !ok {
			_, _, err := parseCloseMasked(h, payload)
			return s.fail(w, err.Code, err.Reason), false
		}
		s.over = true
		s.remaskControl(h, frame, n)
		return scanResult{event: scanClose, closeAt: w, code: code}, true
	}
	s.remaskControl(h, frame, n)
	return scanResult{}, true
}

func (s *scanner) remaskControl(h *wsframe.Header, frame []byte, n int) {
	if s.remasking() {
		s.rekey(h, frame[:n])
		wsframe.Mask(s.delta, 0, frame[n:])
	}
}

// isOurPong reports whether a pong's payload is our ping token.
func (s *scanner) isOurPong(h *wsframe.Header, payload []byte) bool {
	if len(payload) != pingTokenLen {
		return false
	}
	var p [pingTokenLen]byte
	copy(p[:], payload)
	if h.Masked {
		wsframe.Mask(h.Key, 0, p[:])
	}
	return p == s.rules.pingToken
}

// closeCode checks a close frame's payload and returns its code.
func (s *scanner) closeCode(h *wsframe.Header, payload []byte) (int, bool) {
	code, _, err := parseCloseMasked(h, payload)
	return code, err == nil
}

// parseCloseMasked checks a close payload still masked as received.
func parseCloseMasked(h *wsframe.Header, payload []byte) (int, []byte, *wsframe.CloseError) {
	var p [wsframe.MaxControlPayload]byte
	k := copy(p[:], payload)
	if h.Masked {
		wsframe.Mask(h.Key, 0, p[:k])
	}
	return wsframe.ParseClose(p[:k])
}

// fail ends the scan at a frame boundary: what came before is forwarded,
// the rest of the leg's stream is discarded.
func (s *scanner) fail(w, code int, reason string) scanResult {
	s.discard = true
	return scanResult{event: scanFail, out: w, code: code, reason: reason}
}

// overRate stops the scan before the data frame whose header is at r:
// the client's budget has no room for it. With on_exceed close, the rest
// of the client's stream is discarded from that frame on (its close is
// still found).
func (s *scanner) overRate(w, r int) scanResult {
	if s.rate.closes {
		s.discard = true
	}
	return scanResult{event: scanOverRate, out: w, next: r}
}

// failFrame fails on a frame whose header ended at next; its payload is
// skipped so that the leg's close, if it sends one, is still found.
func (s *scanner) failFrame(w int, h *wsframe.Header, next int, code int, reason string) scanResult {
	s.payloadLeft = h.Length
	res := s.fail(w, code, reason)
	res.next = next
	return res
}

// keepCarry saves the unfinished end of a read.
func (s *scanner) keepCarry(b []byte) {
	if s.carry == nil {
		s.carry = carryPool.Get().(*[carryCap]byte)
	}
	s.carryLen = uint8(copy(s.carry[:], b))
}

// takeCarry puts the saved bytes right before buf[at:] and returns where
// they start.
func (s *scanner) takeCarry(buf []byte, at int) int {
	if s.carryLen == 0 {
		return at
	}
	start := at - int(s.carryLen)
	copy(buf[start:at], s.carry[:s.carryLen])
	s.releaseCarry()
	return start
}

func (s *scanner) releaseCarry() {
	if s.carry != nil {
		carryPool.Put(s.carry)
		s.carry, s.carryLen = nil, 0
	}
}

// carryPool holds carry buffers: a leg needs one only while a read has
// ended inside a header or control frame.
var carryPool = sync.Pool{New: func() any { return new([carryCap]byte) }}

// maskKeys hands out masking keys from a buffer of crypto/rand bytes:
// RFC 6455 section 5.3 asks for unpredictable keys, and one read of the
// system's generator per 256 keys keeps that off the per-frame cost. One
// loop uses it at a time.
type maskKeys struct {
	buf [1024]byte
	off int
}

func newMaskKeys() *maskKeys { return &maskKeys{off: 1024} }

func (k *maskKeys) next() (key [4]byte) {
	if k.off+4 > len(k.buf) {
		rand.Read(k.buf[:])
		k.off = 0
	}
	copy(key[:], k.buf[k.off:k.off+4])
	k.off += 4
	return key
}
