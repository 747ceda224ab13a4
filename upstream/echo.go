package upstream

import (
	"io"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
)

// echo sends every message back to its sender, with its type.
type echo struct{ writeTimeout time.Duration }

func newEcho(env Env) *echo { return &echo{writeTimeout: env.WriteTimeout} }

func (e *echo) Open(*http.Request, httprouter.Params) (Session, error) { return e, nil }

// Close holds nothing to release.
func (e *echo) Close() error { return nil }

// Abandon: an echo session holds nothing.
func (e *echo) Abandon() {}

// Serve streams each message back as it arrives (NextReader → NextWriter),
// so a large message never sits whole in memory. A text message that is
// not UTF-8 fails the connection with 1007 (RFC 6455 section 8.1) where
// the first bad byte is, the echo cut short.
func (e *echo) Serve(conn *websocket.Conn) {
	for {
		mt, r, err := conn.NextReader()
		if err != nil {
			return
		}
		if mt == websocket.TextMessage {
			r = &utf8Reader{r: r}
		}
		setWriteDeadline(conn, e.writeTimeout)
		w, err := conn.NextWriter(mt)
		if err != nil {
			return
		}
		if _, err := io.Copy(w, r); err != nil {
			// Return without closing w: closing it would deliver the
			// truncated message as if it were complete.
			failInvalidText(conn, err, CloseWait(e.writeTimeout))
			return
		}
		if err := w.Close(); err != nil {
			return
		}
	}
}

// CloseWait is how long wsedge waits on a closing handshake it starts (a
// built-in's close frame, a relayed session's): the write timeout, or
// 10 s without one.
func CloseWait(writeTimeout time.Duration) time.Duration {
	if writeTimeout > 0 {
		return writeTimeout
	}
	return 10 * time.Second
}

func setWriteDeadline(conn *websocket.Conn, timeout time.Duration) {
	if timeout > 0 {
		conn.SetWriteDeadline(time.Now().Add(timeout))
	}
}
