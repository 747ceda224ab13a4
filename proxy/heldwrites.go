package proxy

import (
	"sync"
	"sync/atomic"
)

// heldWriteLimit bounds what a held connection gathers before it writes
// anyway. 16 KiB is some 200 small frames a write(2), most of the gain
// (bench/fanout: a quarter of the CPU per delivery at 64 KiB and at
// 16 KiB alike), while a room of 1,000 members in a burst holds 16 MiB
// of buffers, not 64.
const heldWriteLimit = 16 << 10

// heldBuffers are the buffers of held connections, taken by Hold and
// given back by Flush, so an idle member holds none.
var heldBuffers = sync.Pool{New: func() any { b := make([]byte, 0, heldWriteLimit); return &b }}

// heldWrites gathers a built-in connection's writes between Hold and
// Flush into few system calls (issue 12): the broadcast writer holds
// while its member has more messages queued, and flushes when the queue
// is empty, so a burst costs one write(2) per 16 KiB instead of one per
// message, and a lone message is written at once. Writes from other
// goroutines meanwhile (keepalive's pings) join the held ones in order.
// It implements upstream's heldWriter on activityConn.
type heldWrites struct {
	// on is set while held, so that the writes of a connection that is
	// not (every write of echo and tail) take no lock. A write that saw
	// it unset went out before anything held; one that saw it set checks
	// again under mu.
	on      atomic.Bool
	mu      sync.Mutex
	pending *[]byte // nil unless held
}

// Hold starts gathering writes.
func (c *activityConn) Hold() {
	c.held.mu.Lock()
	defer c.held.mu.Unlock()
	if c.held.pending == nil {
		c.held.pending = heldBuffers.Get().(*[]byte)
		c.held.on.Store(true)
	}
}

// Flush writes what was gathered and stops gathering.
func (c *activityConn) Flush() error {
	c.held.mu.Lock()
	defer c.held.mu.Unlock()
	err := c.flushLocked()
	if c.held.pending != nil {
		c.held.on.Store(false)
		heldBuffers.Put(c.held.pending)
		c.held.pending = nil
	}
	return err
}

// flushLocked writes the gathered bytes, keeping the buffer.
func (c *activityConn) flushLocked() error {
	p := c.held.pending
	if p == nil || len(*p) == 0 {
		return nil
	}
	_, err := c.Conn.Write(*p)
	*p = (*p)[:0]
	return err
}

// write sends p, or gathers it while held: a frame that does not fit
// flushes what is gathered first, and one bigger than the whole buffer
// is written on its own.
func (c *activityConn) write(p []byte) (int, error) {
	if !c.held.on.Load() {
		return c.Conn.Write(p)
	}
	c.held.mu.Lock()
	defer c.held.mu.Unlock()
	buf := c.held.pending
	if buf == nil {
		return c.Conn.Write(p)
	}
	if len(*buf)+len(p) > heldWriteLimit {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > heldWriteLimit {
			return c.Conn.Write(p)
		}
	}
	*buf = append(*buf, p...)
	return len(p), nil
}
