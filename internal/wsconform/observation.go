package wsconform

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Observation is what the client saw during one case: everything a verdict
// is computed from, kept so that two runs can be compared and a failure
// explained. The zero value is a case whose connection never opened.
type Observation struct {
	// Opened reports whether the opening handshake completed; if not,
	// HandshakeError says why.
	Opened         bool
	HandshakeError string

	// Events are the server's data messages and pongs in arrival order.
	Events []Event
	// PingsSent counts the valid pings this client sent; PongsMatched
	// counts pongs whose payload matched one of them (RFC 6455 section
	// 5.5.3); UnexpectedPongs counts the other pongs.
	PingsSent       int
	PongsMatched    int
	UnexpectedPongs int
	// ServerPings counts pings from the server, each answered with a pong
	// while the connection was open. They are not events (see EventKind).
	ServerPings int

	// CloseSent is this client's first Close frame and CloseReceived the
	// server's first; nil when none was sent or received.
	CloseSent     *CloseFrame
	CloseReceived *CloseFrame
	// ClosedByMe reports that this client sent the first Close (Autobahn's
	// closedByMe); FailedByMe that it did so because of a server error or
	// an expired wait (failedByMe).
	ClosedByMe bool
	FailedByMe bool
	// ClosingHandshake reports that Close frames went both ways.
	ClosingHandshake bool
	// DroppedByMe reports that this client closed the TCP connection,
	// DropReason why; otherwise the server closed it.
	DroppedByMe bool
	DropReason  string
	// WasClean is Autobahn's wasClean: the closing handshake completed and
	// then the server closed TCP, as RFC 6455 section 7.1.1 asks of it.
	WasClean bool
	// End summarises how the connection ended.
	End Ending

	// Violation is the first RFC 6455 rule the server broke in what it
	// sent, if any; this client then failed the connection with 1002.
	Violation string
	// WriteError and ReadError are the first errors on each direction
	// other than the plain end of the connection. A write error usually
	// means the server had already closed; the script stops there.
	WriteError string
	ReadError  string

	// Duration is how long the case took, handshake included. It is
	// reported, never compared.
	Duration time.Duration
}

// Messages returns the data messages among o.Events, in order.
func (o Observation) Messages() []Event {
	var out []Event
	for _, e := range o.Events {
		if e.Kind == EventMessage {
			out = append(out, e)
		}
	}
	return out
}

// Ending is how a connection ended.
type Ending uint8

// The endings.
const (
	// EndNotOpened: the opening handshake failed.
	EndNotOpened Ending = iota
	// EndClean: Close frames went both ways, then the server closed TCP.
	EndClean
	// EndServerDropped: the server closed TCP without completing the
	// closing handshake.
	EndServerDropped
	// EndClientDropped: this client closed TCP because a wait ran out.
	EndClientDropped
)

// String describes the ending in words.
func (e Ending) String() string {
	switch e {
	case EndClean:
		return "clean close"
	case EndServerDropped:
		return "server dropped TCP"
	case EndClientDropped:
		return "client dropped TCP"
	}
	return "not opened"
}

// CloseFrame is the payload of a close frame as sent or received.
type CloseFrame struct {
	// HasCode is false for a close frame with no payload, or with a
	// payload too short to hold a code.
	HasCode bool
	// Code is the status code (RFC 6455 section 7.4), whatever its value.
	Code int
	// Reason is the close reason as received, not necessarily UTF-8.
	Reason string
	// PayloadLen is the length of the whole close payload.
	PayloadLen int
}

// String shows the code and reason, "empty" for a Close without payload,
// and "none" for nil (no Close).
func (c *CloseFrame) String() string {
	switch {
	case c == nil:
		return "none"
	case !c.HasCode && c.PayloadLen == 0:
		return "empty"
	case !c.HasCode:
		return fmt.Sprintf("%d-byte payload", c.PayloadLen)
	case c.Reason == "":
		return strconv.Itoa(c.Code)
	}
	reason := c.Reason
	if len(reason) > 24 {
		reason = reason[:24] + "..."
	}
	return fmt.Sprintf("%d %q", c.Code, reason)
}

// parseClose reads a close payload (RFC 6455 section 5.5.1) and says what
// is wrong with it for a frame received from the server, if anything.
func parseClose(p []byte) (CloseFrame, string) {
	cf := CloseFrame{PayloadLen: len(p)}
	switch {
	case len(p) == 0:
		return cf, ""
	case len(p) == 1:
		return cf, "close payload of 1 byte: too short for a status code (RFC 6455 section 5.5.1)"
	}
	cf.HasCode = true
	cf.Code = int(binary.BigEndian.Uint16(p))
	cf.Reason = string(p[2:])
	if !validWireCode(cf.Code) {
		return cf, fmt.Sprintf("close code %d must not be sent (RFC 6455 section 7.4)", cf.Code)
	}
	if !utf8.Valid(p[2:]) {
		return cf, "close reason is not UTF-8 (RFC 6455 section 5.5.1)"
	}
	return cf, ""
}

// closePayload builds a close payload: a code and a reason, both optional
// (code < 0 means none), bytes as given so cases can send invalid ones.
func closePayload(code int, reason []byte) []byte {
	if code < 0 {
		return append([]byte(nil), reason...)
	}
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return append(p, reason...)
}

// validWireCode reports whether code may appear in a close frame: those of
// RFC 6455 section 7.4.1 that are not reserved (1004-1006, 1015 must not
// be sent), those IANA registered since (1012-1014), and the ranges for
// libraries (3000-3999) and applications (4000-4999) of section 7.4.2.
func validWireCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
