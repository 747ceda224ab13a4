// Wire format of the echo-mode messages, and how echoes are verified.
//
// Binary messages (the default) are laid out as
//
//	offset  size  field
//	0       8     sequence number, per connection from 0, big endian
//	8       8     send time: nanoseconds since the run started (monotonic)
//	16      4     connection id, big endian
//	20      4     CRC-32C (Castagnoli) of the whole message, computed
//	              with this field zeroed
//	24      ...   filler up to -size
//
// With -text the message must be valid UTF-8, so the same 24-byte header
// is hex-encoded into 48 ASCII characters (the checksum field is then 8
// hex digits, "zeroed" as "00000000" while computing it) and -size must
// be at least 48.
//
// The filler is ASCII in both modes (one code path serves both) and is
// rotated by the sequence number, so consecutive messages differ
// everywhere. The checksum covers header and filler: a flipped bit
// anywhere in an echo is caught. The connection id catches an echo
// delivered to the wrong connection, which for a proxy is the worst kind
// of corruption.

package main

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/gorilla/websocket"
)

// Offsets of the binary header fields.
const (
	seqOffset  = 0
	sentOffset = 8
	connOffset = 16
	crcOffset  = 20
	headerSize = 24
)

// fillerAlphabet is the repeating filler pattern; its length (64) is the
// period of the rotation by sequence number.
const fillerAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Reasons an echo fails verification; all count as corrupted.
var (
	errWrongType   = errors.New("wrong message type")
	errWrongLength = errors.New("wrong message length")
	errBadHeader   = errors.New("header is not valid hex")
	errBadChecksum = errors.New("checksum mismatch")
)

// header is what a message carries besides its filler.
type header struct {
	seq    uint64
	sent   time.Duration // since the run's start
	connID uint32
}

// codec encodes and verifies the messages of one run. It is immutable
// after newCodec and shared by all connections.
type codec struct {
	text bool
	size int
	// scale is how many wire bytes encode one header byte: 1 binary, 2 hex.
	scale int
	// zeroCRC is the encoding of a zero checksum field, used in its place
	// while computing the checksum.
	zeroCRC []byte
	// fillerSource holds fillerAlphabet repeated; a message's filler is
	// the slice of it starting at seq mod len(fillerAlphabet).
	fillerSource []byte
}

// minMessageSize is the smallest -size that fits the header.
func minMessageSize(text bool) int {
	if text {
		return 2 * headerSize
	}
	return headerSize
}

// newCodec returns the codec for messages of size bytes.
func newCodec(size int, text bool) (*codec, error) {
	if size < minMessageSize(text) {
		return nil, fmt.Errorf("message size %d below the minimum %d", size, minMessageSize(text))
	}
	c := &codec{text: text, size: size, scale: 1, zeroCRC: make([]byte, 4)}
	if text {
		c.scale = 2
		c.zeroCRC = []byte("00000000")
	}
	fillLen := size - c.headerLen()
	c.fillerSource = make([]byte, fillLen+len(fillerAlphabet))
	for i := range c.fillerSource {
		c.fillerSource[i] = fillerAlphabet[i%len(fillerAlphabet)]
	}
	return c, nil
}

// headerLen is the header's length on the wire.
func (c *codec) headerLen() int { return headerSize * c.scale }

// messageType is the WebSocket message type sent, and expected back.
func (c *codec) messageType() int {
	if c.text {
		return websocket.TextMessage
	}
	return websocket.BinaryMessage
}

// encode writes the message for h into dst, which must be c.size long.
// It does not allocate: dst is the connection's reused send buffer.
func (c *codec) encode(dst []byte, h header) {
	hl := c.headerLen()
	offset := int(h.seq % uint64(len(fillerAlphabet)))
	copy(dst[hl:], c.fillerSource[offset:])

	var raw [headerSize]byte // checksum field stays zero for now
	binary.BigEndian.PutUint64(raw[seqOffset:], h.seq)
	binary.BigEndian.PutUint64(raw[sentOffset:], uint64(h.sent))
	binary.BigEndian.PutUint32(raw[connOffset:], h.connID)
	c.putHeader(dst, raw[:])

	binary.BigEndian.PutUint32(raw[crcOffset:], c.checksum(dst))
	c.putHeader(dst[crcOffset*c.scale:hl], raw[crcOffset:])
}

// putHeader writes raw header bytes at the start of dst, hex-encoded in
// text mode.
func (c *codec) putHeader(dst, raw []byte) {
	if c.text {
		hex.Encode(dst, raw)
		return
	}
	copy(dst, raw)
}

// decode verifies an echo and returns its header. Any error means the
// echo is corrupted.
func (c *codec) decode(msgType int, msg []byte) (header, error) {
	if msgType != c.messageType() {
		return header{}, errWrongType
	}
	if len(msg) != c.size {
		return header{}, errWrongLength
	}
	var raw [headerSize]byte
	if c.text {
		if _, err := hex.Decode(raw[:], msg[:c.headerLen()]); err != nil {
			return header{}, errBadHeader
		}
	} else {
		copy(raw[:], msg)
	}
	if binary.BigEndian.Uint32(raw[crcOffset:]) != c.checksum(msg) {
		return header{}, errBadChecksum
	}
	return header{
		seq:    binary.BigEndian.Uint64(raw[seqOffset:]),
		sent:   time.Duration(binary.BigEndian.Uint64(raw[sentOffset:])),
		connID: binary.BigEndian.Uint32(raw[connOffset:]),
	}, nil
}

// checksum is the CRC-32C of msg with its checksum field read as zero,
// computed around the field so msg is never modified.
func (c *codec) checksum(msg []byte) uint32 {
	lo, hi := crcOffset*c.scale, c.headerLen()
	crc := crc32.Update(0, castagnoli, msg[:lo])
	crc = crc32.Update(crc, castagnoli, c.zeroCRC)
	return crc32.Update(crc, castagnoli, msg[hi:])
}
