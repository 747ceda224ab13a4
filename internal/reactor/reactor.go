// Package reactor runs many mostly idle connections on a few goroutines:
// each connection is served by an event loop, which reads from it only
// when the kernel says data is there, into the loop's own buffer, and
// writes without ever blocking, keeping what the socket does not take until
// it can. An idle connection costs no goroutine, no stack and no buffer.
//
// On Linux each loop is one goroutine around an epoll set (edge-triggered,
// with nginx's rule that a short read means the socket is drained, so no
// read is made only to find nothing). Elsewhere, or with Config.Portable,
// each connection gets a reader goroutine and, while it has output
// waiting, a writer goroutine, and the loop runs handlers in turn; the
// handlers cannot tell the difference.
//
// TLS connections work too: crypto/tls reads and writes through a Socket,
// which turns "would block" into a temporary error crypto/tls retries, and
// never fails a write (what the kernel does not take waits in the Socket).
// A TLS connection must therefore be built over a Socket from the start
// (see Wrap and Listener).
//
// reactor is a leaf package of wsedge: the proxy's relay runs on it.
package reactor

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
)

// ErrWouldBlock is returned by Conn.Read when no data is ready. The
// handler returns, and its Readable method is called again when data
// arrives. It is a temporary net.Error, so crypto/tls keeps its state and
// retries the read later instead of failing the connection.
var ErrWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "reactor: operation would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

var _ net.Error = wouldBlock{}

// ErrClosed is returned by the operations on a Conn that was closed.
var ErrClosed = errors.New("reactor: connection closed")

// Handler receives a connection's events. Its methods run on the
// connection's loop, one at a time, never concurrently with each other or
// with tasks posted to the loop.
type Handler interface {
	// Readable says c may have data, an end of stream or an error to
	// read: call Read until it returns ErrWouldBlock (or stop earlier,
	// and call Read again later, from the loop, to resume).
	Readable(c *Conn)
	// Writable says output that c's socket could not take at once has
	// now been written (Buffered is 0), or writing it failed (WriteErr).
	Writable(c *Conn)
}

// Config says how many loops run and how they read. The zero value is
// ready to use.
type Config struct {
	// Loops is the number of event loops. Zero: one per CPU the Go
	// runtime uses (GOMAXPROCS).
	Loops int
	// BufferSize is the size of each loop's read buffer, which every
	// connection on the loop reads into in turn. Zero: DefaultBufferSize.
	BufferSize int
	// Headroom is how many bytes before each read the buffer keeps free,
	// for the handler to put the unfinished end of the previous read in
	// front of the next one. Zero: none.
	Headroom int
	// Portable runs connections on goroutines instead of epoll even on
	// Linux; it is what other systems get, and lets Linux test it.
	Portable bool
}

// DefaultBufferSize is a loop's read buffer unless configured: large
// enough that several 64 KiB messages with their headers arrive in one
// read (one read and one write each way per message, where a buffer just
// the message's size would take two of each), and only one per loop.
const DefaultBufferSize = 256 << 10

// Group is a set of loops that connections are spread over.
type Group struct {
	loops []*Loop
	next  atomic.Uint32
	// conns counts the goroutines of portable connections, which Close
	// waits for.
	conns sync.WaitGroup
	stop  sync.Once
}

// New starts the loops. Close stops them.
func New(cfg Config) (*Group, error) {
	n := cfg.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	g := &Group{}
	for i := range n {
		l, err := newLoop(g, i, cfg)
		if err != nil {
			g.Close()
			return nil, err
		}
		g.loops = append(g.loops, l)
	}
	for _, l := range g.loops {
		l.running.Add(1)
		go l.run()
	}
	return g, nil
}

// Next returns the loop the next connection should go to, in turn.
func (g *Group) Next() *Loop {
	return g.loops[int(g.next.Add(1))%len(g.loops)]
}

// Loops lists the group's loops.
func (g *Group) Loops() []*Loop { return g.loops }

// Close stops every loop, closing the connections still attached, and
// waits for the loops and the connections' goroutines to end. Handlers
// get no more events.
func (g *Group) Close() {
	g.stop.Do(func() {
		for _, l := range g.loops {
			l.Post(l.shutdown)
		}
		for _, l := range g.loops {
			l.running.Wait()
		}
		g.conns.Wait()
		for _, l := range g.loops {
			l.release()
		}
	})
}

// tasks is a loop's queue of functions posted from other goroutines.
type tasks struct {
	mu      sync.Mutex
	pending []func()
	spare   []func() // the previous batch's slice, reused
}

func (q *tasks) push(f func()) {
	q.mu.Lock()
	q.pending = append(q.pending, f)
	q.mu.Unlock()
}

// take returns the queued functions and empties the queue.
func (q *tasks) take() []func() {
	q.mu.Lock()
	batch := q.pending
	q.pending, q.spare = q.spare[:0], nil
	q.mu.Unlock()
	return batch
}

// done gives back a batch's slice for reuse.
func (q *tasks) done(batch []func()) {
	clear(batch)
	q.mu.Lock()
	if q.spare == nil {
		q.spare = batch[:0]
	}
	q.mu.Unlock()
}

func (q *tasks) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) == 0
}

// runTasks runs every task queued so far, in order.
func (l *Loop) runTasks() {
	batch := l.tasks.take()
	for _, f := range batch {
		f()
	}
	l.tasks.done(batch)
}

// Buffer is the loop's read buffer: Headroom free bytes, then room for
// one read. A handler may use it only while it runs.
func (l *Loop) Buffer() []byte { return l.buf }

// Headroom is the free space at the front of Buffer.
func (l *Loop) Headroom() int { return l.headroom }
