package wsconform

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Opcode is the 4-bit frame type of RFC 6455 section 5.2. Values other than
// the six named ones are reserved (3-7 for data, 11-15 for control) and a
// conforming peer fails the connection on them (section 5.2, "Opcode").
type Opcode byte

// The opcodes RFC 6455 section 5.2 defines.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether o is a control opcode: its most significant bit
// is set (RFC 6455 section 5.5), reserved control opcodes included.
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// isReserved reports whether RFC 6455 section 5.2 leaves o undefined.
func (o Opcode) isReserved() bool {
	switch o {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return false
	}
	return true
}

// String names the opcode, "reserved(N)" for the undefined ones.
func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("reserved(%d)", byte(o))
}

// maxControlPayload is the largest payload a control frame may carry
// (RFC 6455 section 5.5).
const maxControlPayload = 125

// Frame is one frame as this client puts it on the wire. It is built by hand
// so that cases can send frames a conforming client never would: the zero
// value is a masked, non-final continuation frame with no payload.
type Frame struct {
	// Fin marks the final fragment of a message (RFC 6455 section 5.2).
	// Control frames must have it set; false on one is a deliberate error.
	Fin bool
	// RSV holds the three reserved bits numbered as Autobahn numbers them:
	// the value is shifted into bits 4-6 of the first byte, so 4 is RSV1,
	// 2 is RSV2 and 1 is RSV3. Zero is the only value valid without an
	// extension (RFC 6455 section 5.2).
	RSV byte
	// Opcode is the frame type, reserved values included.
	Opcode Opcode
	// Payload is the application data, sent as is whatever its length:
	// a control frame over 125 bytes is a deliberate error.
	Payload []byte
	// Unmasked sends the payload without a masking key. A client MUST mask
	// every frame (RFC 6455 section 5.3), so this is a deliberate error.
	Unmasked bool
	// StartsClose, on a close frame, makes it this client's Close for the
	// closing handshake (Autobahn's sendClose): it moves the connection to
	// closing, counts as "closed by the client" and is not sent if the
	// connection is no longer open. A close frame without it is sent as a
	// raw frame that changes no state (Autobahn's sendFrame(opcode=8)).
	StartsClose bool
}

// isValidPing reports whether f is a ping a conforming server answers with
// a pong: final, no reserved bits, payload within the control limit.
func (f Frame) isValidPing() bool {
	return f.Opcode == OpPing && f.Fin && f.RSV == 0 && len(f.Payload) <= maxControlPayload
}

// wire encodes f with a fresh random masking key, as RFC 6455 section 5.3
// requires of a client ("unpredictable"), unless f is Unmasked.
func (f Frame) wire() ([]byte, error) {
	var key [4]byte
	if !f.Unmasked {
		if _, err := rand.Read(key[:]); err != nil {
			return nil, fmt.Errorf("wsconform: masking key: %w", err)
		}
	}
	return f.appendWire(make([]byte, 0, len(f.Payload)+14), key), nil
}

// appendWire appends the encoding of f masked with key (RFC 6455 section
// 5.2 base framing; the shortest length encoding, as section 5.2 requires).
func (f Frame) appendWire(dst []byte, key [4]byte) []byte {
	b0 := byte(f.Opcode&0x0f) | (f.RSV&0x7)<<4
	if f.Fin {
		b0 |= 0x80
	}
	var maskBit byte
	if !f.Unmasked {
		maskBit = 0x80
	}
	n := len(f.Payload)
	dst = append(dst, b0)
	switch {
	case n <= 125:
		dst = append(dst, maskBit|byte(n))
	case n <= 0xffff:
		dst = append(dst, maskBit|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, maskBit|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if f.Unmasked {
		return append(dst, f.Payload...)
	}
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, f.Payload...)
	maskBytes(dst[start:], key)
	return dst
}

// maskBytes XORs b with key in place (RFC 6455 section 5.3); masking and
// unmasking are the same operation.
func maskBytes(b []byte, key [4]byte) {
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// inFrame is a frame as read from the server, payload unmasked.
type inFrame struct {
	fin     bool
	rsv     byte
	opcode  Opcode
	masked  bool
	payload []byte
}

// errFrameTooLarge is returned for a frame whose payload exceeds the
// reader's limit; the stream cannot be resynchronised after it.
var errFrameTooLarge = errors.New("wsconform: frame payload exceeds the client's limit")

// errBadLength is returned for a 64-bit length with its most significant
// bit set, which RFC 6455 section 5.2 forbids.
var errBadLength = errors.New("wsconform: 64-bit payload length has its most significant bit set")

// readFrame reads one whole frame from r. It checks nothing about the
// frame's meaning, only what it takes to find the next frame boundary.
func readFrame(r *bufio.Reader, limit int) (inFrame, error) {
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return inFrame{}, err
	}
	f := inFrame{
		fin:    head[0]&0x80 != 0,
		rsv:    (head[0] >> 4) & 0x7,
		opcode: Opcode(head[0] & 0x0f),
		masked: head[1]&0x80 != 0,
	}
	n, err := readLength(r, head[1]&0x7f)
	if err != nil {
		return inFrame{}, err
	}
	if n > uint64(limit) {
		return inFrame{}, errFrameTooLarge
	}
	var key [4]byte
	if f.masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return inFrame{}, unexpectedEOF(err)
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return inFrame{}, unexpectedEOF(err)
	}
	if f.masked {
		maskBytes(f.payload, key)
	}
	return f, nil
}

// readLength decodes the 7-bit, 16-bit or 64-bit payload length of RFC 6455
// section 5.2.
func readLength(r *bufio.Reader, short byte) (uint64, error) {
	switch short {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return 0, unexpectedEOF(err)
		}
		return uint64(binary.BigEndian.Uint16(ext[:])), nil
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return 0, unexpectedEOF(err)
		}
		n := binary.BigEndian.Uint64(ext[:])
		if n>>63 != 0 {
			return 0, errBadLength
		}
		return n, nil
	}
	return uint64(short), nil
}

// unexpectedEOF turns a clean EOF inside a frame into io.ErrUnexpectedEOF:
// the server closed the connection in the middle of a frame.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
