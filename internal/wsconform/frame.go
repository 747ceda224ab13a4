package wsconform

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/wsedge/wsedge/internal/wsframe"
)

// Opcode is the 4-bit frame type of RFC 6455 section 5.2 (wsframe's).
// Values other than the six named ones are reserved (3-7 for data, 11-15
// for control) and a conforming peer fails the connection on them.
type Opcode = wsframe.Opcode

// The opcodes RFC 6455 section 5.2 defines.
const (
	OpContinuation = wsframe.OpContinuation
	OpText         = wsframe.OpText
	OpBinary       = wsframe.OpBinary
	OpClose        = wsframe.OpClose
	OpPing         = wsframe.OpPing
	OpPong         = wsframe.OpPong
)

// maxControlPayload is the largest payload a control frame may carry
// (RFC 6455 section 5.5).
const maxControlPayload = wsframe.MaxControlPayload

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
	h := wsframe.Header{Fin: f.Fin, RSV: (f.RSV & 0x7) << 4, Op: f.Opcode, Masked: !f.Unmasked, Key: key, Length: uint64(len(f.Payload))}
	var hdr [wsframe.MaxHeaderLen]byte
	dst = append(dst, hdr[:h.Put(hdr[:])]...)
	start := len(dst)
	dst = append(dst, f.Payload...)
	if h.Masked {
		wsframe.Mask(key, 0, dst[start:])
	}
	return dst
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
var errBadLength = wsframe.ErrBadLength

// readFrame reads one whole frame from r. It checks nothing about the
// frame's meaning, only what it takes to find the next frame boundary.
func readFrame(r *bufio.Reader, limit int) (inFrame, error) {
	var raw [wsframe.MaxHeaderLen]byte
	if _, err := io.ReadFull(r, raw[:2]); err != nil {
		return inFrame{}, err
	}
	n := wsframe.HeaderLen(raw[1])
	if _, err := io.ReadFull(r, raw[2:n]); err != nil {
		return inFrame{}, unexpectedEOF(err)
	}
	h, _, err := wsframe.ParseHeader(raw[:n])
	if err != nil {
		return inFrame{}, err
	}
	if h.Length > uint64(limit) {
		return inFrame{}, errFrameTooLarge
	}
	f := inFrame{fin: h.Fin, rsv: h.RSV >> 4, opcode: h.Op, masked: h.Masked, payload: make([]byte, h.Length)}
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return inFrame{}, unexpectedEOF(err)
	}
	if f.masked {
		wsframe.Mask(h.Key, 0, f.payload)
	}
	return f, nil
}

// unexpectedEOF turns a clean EOF inside a frame into io.ErrUnexpectedEOF:
// the server closed the connection in the middle of a frame.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
