// Opening connections: the WebSocket dialer, and the ramp that paces new
// connections so that a run never opens all of them at once (a burst of
// thousands of SYNs measures the listen backlog, not the target).

package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// handshakeTimeout bounds one opening handshake: TCP, TLS and upgrade.
	handshakeTimeout = 10 * time.Second

	// Write buffer bounds for echo connections; see newDialer.
	minWriteBuffer = 4 << 10
	maxWriteBuffer = 64 << 10

	// lightReadBuffer is the read buffer of idle and handshake connections,
	// which read next to nothing: small, so that many fit in memory.
	lightReadBuffer = 1 << 10
)

// newDialer returns the dialer for a run. It never uses an HTTP proxy from
// the environment: wsload measures the target it is given.
func newDialer(o *options) *websocket.Dialer {
	d := &websocket.Dialer{
		HandshakeTimeout: handshakeTimeout,
		TLSClientConfig:  o.tls,
	}
	if o.mode == modeEcho {
		// Echo connections write all the time, so each keeps its own
		// buffer, big enough that a message goes out as a single frame
		// as most clients send it.
		d.WriteBufferSize = min(max(o.size, minWriteBuffer), maxWriteBuffer)
	} else {
		// Idle and handshake connections write only control frames:
		// share write buffers and keep read buffers small.
		d.WriteBufferPool = &sync.Pool{}
		d.ReadBufferSize = lightReadBuffer
	}
	return d
}

// dial opens one WebSocket connection to the target. A handshake the
// target refused is reported with its HTTP status.
func dial(ctx context.Context, d *websocket.Dialer, url string) (*websocket.Conn, error) {
	ws, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("handshake with %s: %w (HTTP %s)", url, err, resp.Status)
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	return ws, nil
}

// ramp calls start(i) for i from 0 to n-1, the i-th call no earlier than
// i/perSec seconds after the first. The schedule is computed from the
// start rather than slept between calls, so timer overshoot does not
// slow the ramp down: calls that fell due while the loop was late are
// made at once. ramp returns early when ctx ends.
func ramp(ctx context.Context, n int, perSec float64, start func(i int)) {
	interval := time.Duration(float64(time.Second) / perSec)
	begin := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := range n {
		if wait := time.Until(begin.Add(time.Duration(i) * interval)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		start(i)
	}
}
