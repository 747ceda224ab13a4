package proxy

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Close codes wsedge sends on its own behalf (RFC 6455 section 7.4.1).
const (
	// closeClientLost goes to the backend when the client's leg dies
	// without a close frame (reset, ping timeout, oversized message,
	// protocol error): 1001 Going Away, what a browser sends when it
	// leaves a page, which every backend already handles.
	closeClientLost = websocket.CloseGoingAway
	// closeBackendLost goes to the client when the backend's leg dies
	// without a close frame: 1011, the server side hit an unexpected
	// condition. Clients may reconnect; the reason says what happened.
	closeBackendLost = websocket.CloseInternalServerErr
	// closeShutdown goes to both legs when wsedge shuts down.
	closeShutdown = websocket.CloseGoingAway
)

// maxCloseReason is the longest close reason that fits a control frame:
// 125 bytes of payload minus the 2-byte code.
const maxCloseReason = 123

// relayClosePayload is the close frame to send on one leg for a close
// frame received on the other: code and reason verbatim. A close without a
// status (reported as 1005) is relayed as a close without a status, because
// 1005, 1006 and 1015 must never be written on the wire.
func relayClosePayload(ce *websocket.CloseError) []byte {
	switch ce.Code {
	case websocket.CloseNoStatusReceived:
		return []byte{}
	case websocket.CloseAbnormalClosure, websocket.CloseTLSHandshake:
		// Local conditions, never received in a frame (gorilla refuses
		// them on the wire); map to a legal code for completeness.
		return closePayload(websocket.CloseInternalServerErr, ce.Text)
	}
	return closePayload(ce.Code, ce.Text)
}

// closePayload formats a close frame payload, cutting the reason to fit
// (at a UTF-8 boundary, since reasons must be valid UTF-8).
func closePayload(code int, reason string) []byte {
	if len(reason) > maxCloseReason {
		reason = strings.ToValidUTF8(reason[:maxCloseReason], "")
	}
	return websocket.FormatCloseMessage(code, reason)
}

// isCloseFrame reports whether err is a close frame the peer sent, as
// opposed to the connection dying: gorilla reports an abrupt EOF as a
// CloseError with code 1006.
func isCloseFrame(err error) (*websocket.CloseError, bool) {
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
		return ce, true
	}
	return nil, false
}

// closeDeadline bounds a closing handshake: once armed, it calls expire
// after the wait unless stopped first. Its owner calls stop, which also
// waits for a running expire to return.
type closeDeadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
	running sync.WaitGroup
}

// arm starts the countdown once; later calls do nothing.
func (d *closeDeadline) arm(wait time.Duration, expire func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil || d.stopped {
		return
	}
	d.running.Add(1)
	d.timer = time.AfterFunc(wait, func() {
		defer d.running.Done()
		expire()
	})
}

// stop cancels the countdown and waits for expire if it is running.
func (d *closeDeadline) stop() {
	d.mu.Lock()
	d.stopped = true
	if d.timer != nil && d.timer.Stop() {
		d.running.Done() // it will never run
	}
	d.mu.Unlock()
	d.running.Wait()
}
