package upstream

import (
	"errors"
	"io"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// errInvalidUTF8 is a text message that is not UTF-8: RFC 6455 section
// 8.1 has the endpoint fail the connection with 1007.
var errInvalidUTF8 = errors.New("invalid UTF-8 in a text message")

// utf8Reader passes a text message through, failing with errInvalidUTF8
// at the first byte that cannot be UTF-8, wherever the message is cut
// into reads (a rune split across two reads waits for its end).
type utf8Reader struct {
	r       io.Reader
	pending [utf8.UTFMax]byte // the start of a rune the last read cut
	n       int
}

func (u *utf8Reader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if !u.valid(p[:n]) {
		return n, errInvalidUTF8
	}
	if err == io.EOF && u.n > 0 {
		return n, errInvalidUTF8 // the message ends inside a rune
	}
	return n, err
}

// valid checks b, after what the previous read left unfinished.
func (u *utf8Reader) valid(b []byte) bool {
	for len(b) > 0 && u.n > 0 {
		u.pending[u.n] = b[0]
		u.n++
		b = b[1:]
		if utf8.FullRune(u.pending[:u.n]) {
			r, size := utf8.DecodeRune(u.pending[:u.n])
			if r == utf8.RuneError && size <= 1 {
				return false
			}
			u.n = 0
		} else if u.n == utf8.UTFMax {
			return false
		}
	}
	if len(b) == 0 {
		return true // what is pending stays pending
	}
	// Leave a trailing incomplete rune for the next read.
	end := len(b)
	for i := max(0, len(b)-utf8.UTFMax+1); i < len(b); i++ {
		if utf8.RuneStart(b[i]) && !utf8.FullRune(b[i:]) {
			end = i
			break
		}
	}
	if !utf8.Valid(b[:end]) {
		return false
	}
	u.n = copy(u.pending[:], b[end:])
	return true
}

// failInvalidText closes conn with 1007 after a text message that was not
// UTF-8, and reports whether err was that.
func failInvalidText(conn *websocket.Conn, err error, wait time.Duration) bool {
	if !errors.Is(err, errInvalidUTF8) {
		return false
	}
	fail(conn, websocket.CloseInvalidFramePayloadData, errInvalidUTF8.Error(), wait)
	return true
}

// fail starts the closing handshake with code and waits up to wait for
// the client's answer, discarding what it still sends (the rest of the
// message that failed): closing the socket with that unread would reset
// the connection, and the client could lose the close frame. The caller
// is the connection's one reader.
func fail(conn *websocket.Conn, code int, reason string, wait time.Duration) {
	deadline := time.Now().Add(wait)
	if conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline) != nil {
		return
	}
	conn.SetReadDeadline(deadline)
	for {
		if _, r, err := conn.NextReader(); err != nil {
			return
		} else if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
	}
}
