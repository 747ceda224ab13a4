package reactor

import (
	"net"
	"sync"
)

// portableReadSize is the buffer a portable connection's reader goroutine
// reads into; it is held for the connection's life.
const portableReadSize = 16 << 10

// portable is the goroutine side of a connection on a portable loop: a
// reader goroutine that blocks in Read and hands each read's bytes to the
// loop, and, while output is waiting, a writer goroutine that blocks in
// Write. The loop's handler sees the same Conn methods as on epoll.
type portable struct {
	nc net.Conn // read and written by the goroutines, blocking
	// The read buffer is owned by the reader goroutine until it posts
	// what it read, then by the loop until the loop has consumed it and
	// asks for more: the handover is the task queue one way and the
	// more channel the other.
	rbuf      []byte
	rn, roff  int
	rerr      error
	loopOwns  bool
	more      chan struct{}
	done      chan struct{} // closed by Close: the reader stops waiting
	onRead    func()        // posted by the reader: c's Readable
	onWritten func()        // posted by the writer: c's Writable

	mu       sync.Mutex // guards the writer's fields below
	queued   []byte     // output the writer has not started on
	spare    []byte     // the writer's previous batch, for reuse
	inFlight int        // bytes of the batch being written
	writing  bool       // a writer goroutine is running
	werr     error
}

func (c *Conn) startPortable(nc net.Conn) error {
	p := &portable{
		nc:   nc,
		rbuf: make([]byte, portableReadSize),
		more: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	p.onRead = func() {
		if !c.closed {
			p.loopOwns = true
			c.h.Readable(c)
		}
	}
	p.onWritten = func() {
		if !c.closed {
			c.h.Writable(c)
		}
	}
	c.port = p
	c.loop.attached[c] = struct{}{}
	c.loop.group.conns.Add(1)
	go c.readLoop()
	return nil
}

// readLoop is a portable connection's reader goroutine.
func (c *Conn) readLoop() {
	defer c.loop.group.conns.Done()
	p := c.port
	for {
		n, err := p.nc.Read(p.rbuf)
		p.rn, p.roff, p.rerr = n, 0, err
		c.loop.Post(p.onRead)
		if err != nil {
			return
		}
		select {
		case <-p.more:
		case <-p.done:
			return
		}
	}
}

func (p *portable) read(c *Conn, b []byte) (int, error) {
	if !p.loopOwns {
		return 0, ErrWouldBlock
	}
	if p.roff < p.rn {
		n := copy(b, p.rbuf[p.roff:p.rn])
		p.roff += n
		return n, nil
	}
	if p.rerr != nil {
		return 0, p.rerr
	}
	p.loopOwns = false
	p.more <- struct{}{}
	return 0, ErrWouldBlock
}

func (p *portable) write(c *Conn, b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.werr != nil {
		return p.werr
	}
	p.queued = append(p.queued, b...)
	if !p.writing {
		p.writing = true
		c.loop.group.conns.Add(1)
		go c.writeLoop()
	}
	return nil
}

// writeLoop is a portable connection's writer goroutine: it runs while
// output is queued, then tells the loop.
func (c *Conn) writeLoop() {
	defer c.loop.group.conns.Done()
	p := c.port
	for {
		p.mu.Lock()
		batch := p.queued
		if len(batch) == 0 || p.werr != nil {
			p.writing = false
			p.mu.Unlock()
			c.loop.Post(p.onWritten)
			return
		}
		p.queued, p.spare = p.spare[:0], nil
		p.inFlight = len(batch)
		p.mu.Unlock()
		_, err := p.nc.Write(batch)
		p.mu.Lock()
		p.inFlight = 0
		p.spare = batch[:0]
		if err != nil {
			p.werr, p.queued = err, nil
		}
		p.mu.Unlock()
	}
}

func (p *portable) buffered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queued) + p.inFlight
}

func (p *portable) writeErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.werr
}

// close unblocks both goroutines: the reader's Read and the writer's
// Write fail on the closed connection.
func (p *portable) close(c *Conn) error {
	delete(c.loop.attached, c)
	close(p.done)
	p.mu.Lock()
	p.werr = ErrClosed
	p.mu.Unlock()
	return p.nc.Close()
}
