// The connection lifecycle shared by the echo and idle modes: opening a
// fleet of connections at the ramp rate, counting them, running one
// session goroutine per connection, and closing them cleanly.
//
// Goroutine ownership: the fleet owns one session goroutine per dial (it
// waits for them in wait); each session owns its connection's reader
// goroutine and, in echo mode, its writer goroutine, and waits for both
// before it returns.

package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// closeWait bounds the closing handshake: how long to wait for the
// server's close frame or end of stream after sending ours.
const closeWait = time.Second

// fleet opens and tracks the connections of an echo or idle run.
type fleet struct {
	env *runEnv

	opened atomic.Int64 // dials that succeeded
	failed atomic.Int64 // dials that failed (the target's fault or the local file limit)
	live   atomic.Int64 // connections open right now: their reader is running

	dials    sync.WaitGroup // one per dial in progress
	sessions sync.WaitGroup // one per session goroutine
}

func newFleet(env *runEnv) *fleet { return &fleet{env: env} }

// open dials -c connections at the ramp rate, each from its own session
// goroutine, which goes on to run session on the connection if the dial
// succeeded. open returns once every dial has finished: all connections
// are open or failed, a dial hit the local open-file limit (which stops
// the ramp), or ctx ended.
func (f *fleet) open(ctx context.Context, session func(*liveConn)) {
	rampCtx, stopRamp := context.WithCancel(ctx)
	defer stopRamp()
	ramp(rampCtx, f.env.opts.connections, f.env.opts.ramp, func(i int) {
		f.dials.Add(1)
		f.sessions.Add(1)
		go func() {
			defer f.sessions.Done()
			c := f.dialOne(ctx, uint32(i), stopRamp)
			f.dials.Done()
			if c != nil {
				session(c)
			}
		}()
	})
	f.dials.Wait()
}

// wait waits for every session goroutine to end.
func (f *fleet) wait() { f.sessions.Wait() }

// dialOne opens connection id, or counts and records why it could not.
func (f *fleet) dialOne(ctx context.Context, id uint32, stopRamp func()) *liveConn {
	ws, err := dial(ctx, f.env.dialer, f.env.opts.url)
	if err != nil {
		if ctx.Err() != nil {
			return nil // the run was interrupted: not a failure of the target
		}
		f.failed.Add(1)
		if f.env.recordDialError(err) {
			stopRamp()
		}
		return nil
	}
	f.opened.Add(1)
	f.live.Add(1)
	return &liveConn{id: id, ws: ws, fleet: f}
}

// liveConn is an open connection of a fleet, owned by its session
// goroutine.
type liveConn struct {
	id    uint32
	ws    *websocket.Conn
	fleet *fleet

	// closing is set once the run starts closing the connection, from
	// when on read and write errors are expected rather than recorded.
	closing atomic.Bool
	// readerDone is closed when the reader goroutine has returned.
	readerDone chan struct{}
}

// startReader runs read as the connection's only reader goroutine. When
// read returns the connection no longer counts as open, and its error is
// recorded unless the run was closing the connection.
func (c *liveConn) startReader(read func() error) {
	c.readerDone = make(chan struct{})
	go func() {
		defer close(c.readerDone)
		err := read()
		c.fleet.live.Add(-1)
		c.recordUnlessClosing(fmt.Errorf("read: %w", err))
	}()
}

// recordUnlessClosing records err as a run error, unless it is the
// expected consequence of the run closing the connection.
func (c *liveConn) recordUnlessClosing(err error) {
	if !c.closing.Load() {
		c.fleet.env.errs.record(err)
	}
}

// closeGracefully performs the client's side of the closing handshake:
// close frame 1000, then up to closeWait for the server's answer, which
// makes the reader return; then the socket is released. The connection's
// writer goroutine, if any, must have returned: one stuck on a full
// socket would hold up the close frame until the deadline (use closeNow).
func (c *liveConn) closeGracefully() {
	c.closing.Store(true)
	select {
	case <-c.readerDone: // the server closed first, or the connection failed
	default:
		deadline := time.Now().Add(closeWait)
		// Errors are ignored: sent or not, the read deadline ends the reader.
		_ = c.ws.WriteControl(websocket.CloseMessage, normalClosure, deadline)
		_ = c.ws.SetReadDeadline(deadline)
		<-c.readerDone
	}
	c.ws.Close()
}

// closeNow drops the connection without a closing handshake, which also
// frees a writer blocked on a socket the server no longer reads.
func (c *liveConn) closeNow() {
	c.closing.Store(true)
	c.ws.Close()
	<-c.readerDone
}

// normalClosure is the payload of a close frame with status 1000.
var normalClosure = websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")

// discardMessages reads and drops every message until the connection
// ends. Reading is what makes gorilla answer the server's pings and see
// its close frame.
func discardMessages(ws *websocket.Conn) error {
	for {
		if _, _, err := ws.NextReader(); err != nil {
			return err
		}
	}
}
