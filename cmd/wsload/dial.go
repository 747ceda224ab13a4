// Opening connections: the WebSocket dialer, and the ramp that paces new
// connections so that a run never opens all of them at once (a burst of
// thousands of SYNs measures the listen backlog, not the target).

package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
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
	if len(o.localAddrs) > 0 {
		d.NetDialContext = newSourceRotation(o.localAddrs).dialContext
	}
	return d
}

// sourceRotation dials from its local addresses in turn. One source
// address has one range of ephemeral ports towards a given target
// (about 28,000 on Linux by default); several let one machine open more
// connections to it, and let a proxy under test see many clients.
type sourceRotation struct {
	dialers []*net.Dialer
	next    atomic.Uint64
}

func newSourceRotation(addrs []net.IP) *sourceRotation {
	r := &sourceRotation{}
	for _, ip := range addrs {
		r.dialers = append(r.dialers, &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}})
	}
	return r
}

// dialContext is the dialer's NetDialContext: the TCP connection only,
// gorilla adds TLS on top for wss://. Its errors name the source address
// already ("dial tcp 127.0.0.2:0->...").
func (r *sourceRotation) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := r.dialers[(r.next.Add(1)-1)%uint64(len(r.dialers))]
	return d.DialContext(ctx, network, addr)
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
