// Package wsframe reads and writes WebSocket frame headers (RFC 6455
// section 5.2) and close frame payloads (section 5.5.1), for a relay that
// forwards frames without reassembling messages. It allocates nothing:
// headers are parsed from and written into the caller's bytes.
//
// It is a leaf package: wsedge's proxy, its tests and its conformance
// client use it.
package wsframe

import (
	"encoding/binary"
	"errors"
)

// Opcode is a frame's opcode (RFC 6455 section 5.2).
type Opcode byte

// The opcodes RFC 6455 defines; the others are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether op is a control opcode (close, ping, pong and
// the reserved 0xB-0xF): its frames carry at most MaxControlPayload bytes
// and are never fragmented (RFC 6455 section 5.5).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// IsDefined reports whether op is one of the six opcodes RFC 6455 defines.
func (op Opcode) IsDefined() bool {
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return true
	}
	return false
}

const (
	// MaxHeaderLen is the longest frame header: 2 bytes, an 8-byte
	// extended length and a 4-byte masking key.
	MaxHeaderLen = 14
	// MaxControlPayload is the most a control frame may carry (RFC 6455
	// section 5.5).
	MaxControlPayload = 125
	// MaxControlFrameLen is the longest control frame on the wire: a
	// 6-byte header (no extended length, masked) and its payload.
	MaxControlFrameLen = 6 + MaxControlPayload
)

// The bits of a header's first two bytes.
const (
	finBit    = 0x80
	rsvBits   = 0x70
	opBits    = 0x0f
	maskBit   = 0x80
	lengthLow = 0x7f
)

// ErrBadLength is a 64-bit payload length with its most significant bit
// set, which RFC 6455 section 5.2 forbids.
var ErrBadLength = errors.New("wsframe: payload length has its most significant bit set")

// Header is a frame header.
type Header struct {
	Fin bool
	// RSV holds the three reserved bits where the first byte has them
	// (0x40 RSV1, 0x20 RSV2, 0x10 RSV3); zero unless an extension
	// negotiated them.
	RSV    byte
	Op     Opcode
	Masked bool
	// Key is the masking key, when Masked.
	Key    [4]byte
	Length uint64
}

// ParseHeader parses the frame header at the start of b. It returns the
// header and the number of bytes it takes, or n == 0 when b holds only
// part of one (read more and try again). The only error is ErrBadLength.
func ParseHeader(b []byte) (h Header, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	n = HeaderLen(b[1])
	if len(b) < n {
		return h, 0, nil
	}
	h.Fin = b[0]&finBit != 0
	h.RSV = b[0] & rsvBits
	h.Op = Opcode(b[0] & opBits)
	h.Masked = b[1]&maskBit != 0
	switch l := b[1] & lengthLow; l {
	case 126:
		h.Length = uint64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		h.Length = binary.BigEndian.Uint64(b[2:10])
		if h.Length>>63 != 0 {
			return h, n, ErrBadLength
		}
	default:
		h.Length = uint64(l)
	}
	if h.Masked {
		copy(h.Key[:], b[n-4:n])
	}
	return h, n, nil
}

// HeaderLen is the length of a header whose second byte is b1.
func HeaderLen(b1 byte) int {
	n := 2
	switch b1 & lengthLow {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&maskBit != 0 {
		n += 4
	}
	return n
}

// EncodedLen is the length of h once encoded.
func (h *Header) EncodedLen() int {
	n := 2
	switch {
	case h.Length > 0xffff:
		n += 8
	case h.Length > 125:
		n += 2
	}
	if h.Masked {
		n += 4
	}
	return n
}

// Put writes h into dst, which must hold EncodedLen bytes, with the
// shortest length encoding (RFC 6455 section 5.2), and returns the number
// of bytes written.
func (h *Header) Put(dst []byte) int {
	b0 := h.RSV&rsvBits | byte(h.Op)&opBits
	if h.Fin {
		b0 |= finBit
	}
	var b1 byte
	if h.Masked {
		b1 = maskBit
	}
	dst[0] = b0
	n := 2
	switch {
	case h.Length > 0xffff:
		dst[1] = b1 | 127
		binary.BigEndian.PutUint64(dst[2:10], h.Length)
		n = 10
	case h.Length > 125:
		dst[1] = b1 | 126
		binary.BigEndian.PutUint16(dst[2:4], uint16(h.Length))
		n = 4
	default:
		dst[1] = b1 | byte(h.Length)
	}
	if h.Masked {
		n += copy(dst[n:n+4], h.Key[:])
	}
	return n
}

// AppendControl appends a whole control frame (FIN set) with payload,
// masked with key when masked, and returns the extended slice. payload
// must be at most MaxControlPayload bytes.
func AppendControl(dst []byte, op Opcode, payload []byte, masked bool, key [4]byte) []byte {
	h := Header{Fin: true, Op: op, Masked: masked, Key: key, Length: uint64(len(payload))}
	var hdr [MaxHeaderLen]byte
	n := h.Put(hdr[:])
	dst = append(dst, hdr[:n]...)
	start := len(dst)
	dst = append(dst, payload...)
	if masked {
		Mask(key, 0, dst[start:])
	}
	return dst
}

// Mask XORs b with key (RFC 6455 section 5.3), b's first byte being
// payload byte pos of its frame, and returns the position after b. Masking
// twice with the same key and position restores the bytes.
func Mask(key [4]byte, pos int, b []byte) int {
	end := pos + len(b)
	// Rotate the key so that k[0] applies to b[0].
	var k [4]byte
	for i := range k {
		k[i] = key[(pos+i)&3]
	}
	if len(b) >= 16 {
		k32 := uint64(binary.LittleEndian.Uint32(k[:]))
		k64 := k32 | k32<<32
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= k[i&3]
	}
	return end
}
