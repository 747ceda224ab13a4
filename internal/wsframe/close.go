package wsframe

import (
	"encoding/binary"
	"unicode/utf8"
)

// Close codes wsedge names (RFC 6455 section 7.4.1).
const (
	CloseNormal           = 1000
	CloseGoingAway        = 1001
	CloseProtocolError    = 1002
	CloseUnsupportedData  = 1003
	CloseNoStatus         = 1005 // never on the wire: a close frame without a code
	CloseInvalidPayload   = 1007
	ClosePolicyViolation  = 1008
	CloseMessageTooBig    = 1009
	CloseInternalError    = 1011
	CloseServiceRestart   = 1012 // registered with IANA: the server is restarting
	MaxCloseReason        = MaxControlPayload - 2
	minApplicationCode    = 3000
	maxApplicationCode    = 4999
	firstUnregisteredCode = 1016
)

// ValidCloseCode reports whether code may appear in a close frame on the
// wire: the codes RFC 6455 section 7.4.1 and the IANA registry define for
// use in frames (1000-1003, 1007-1014), and the registered and private
// ranges 3000-4999. 1004 is reserved, and 1005, 1006 and 1015 name local
// conditions that must never be sent (section 7.4.1).
func ValidCloseCode(code int) bool {
	switch {
	case code >= minApplicationCode && code <= maxApplicationCode:
		return true
	case code < CloseNormal || code >= firstUnregisteredCode:
		return false
	}
	switch code {
	case 1004, 1005, 1006, 1015:
		return false
	}
	return true
}

// CloseError says why a close frame's payload is invalid, and the close
// code to fail the connection with.
type CloseError struct {
	// Code is 1002 (protocol error) or 1007 (invalid UTF-8 reason).
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return "wsframe: " + e.Reason }

var (
	errCloseOneByte = &CloseError{CloseProtocolError, "close frame payload of 1 byte"}
	errCloseCode    = &CloseError{CloseProtocolError, "invalid close code"}
	errCloseUTF8    = &CloseError{CloseInvalidPayload, "close reason is not UTF-8"}
)

// ParseClose checks an (unmasked) close frame payload (RFC 6455 section
// 5.5.1): empty, or a valid code followed by a UTF-8 reason. It returns
// the code (CloseNoStatus for an empty payload) and the reason.
func ParseClose(payload []byte) (code int, reason []byte, err *CloseError) {
	switch len(payload) {
	case 0:
		return CloseNoStatus, nil, nil
	case 1:
		return 0, nil, errCloseOneByte
	}
	code = int(binary.BigEndian.Uint16(payload))
	if !ValidCloseCode(code) {
		return code, nil, errCloseCode
	}
	reason = payload[2:]
	if !utf8.Valid(reason) {
		return code, nil, errCloseUTF8
	}
	return code, reason, nil
}

// AppendClosePayload appends a close payload with code and reason to dst.
// A reason longer than MaxCloseReason is cut at a UTF-8 boundary so the
// frame stays a valid control frame. code must be valid on the wire.
func AppendClosePayload(dst []byte, code int, reason string) []byte {
	if len(reason) > MaxCloseReason {
		cut := MaxCloseReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}
