package reactor

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Conn is a connection attached to a loop. Its methods must be called on
// that loop (from a Handler method or a posted task).
type Conn struct {
	loop *Loop
	h    Handler
	tls  *tls.Conn // set for TLS: reads and writes go through it
	// sock is the socket the loop polls (under tls, if any); nil for a
	// portable connection. The connection Go opened is not kept: its
	// descriptor was handed over (see Socket.detach).
	sock   *Socket
	gen    uint32
	closed bool
	// port is the goroutine side of a portable connection.
	port *portable
}

// Attach takes nc over: from now on it is read and written only through
// the returned Conn, and h gets its events. nc is a TCP or Unix socket, a
// Socket, or a *tls.Conn whose handshake is done, built over a Socket (see
// Wrap); those an epoll loop polls. Any other connection, one that is not
// a socket of its own (an HTTP/2 stream), is served as on a portable
// loop, by goroutines that block in its Read and Write, on any loop.
// Attach must be called on the loop; on failure nc is closed.
func (l *Loop) Attach(nc net.Conn, h Handler) (*Conn, error) {
	if l.stopped {
		nc.Close()
		return nil, ErrClosed
	}
	c := &Conn{loop: l, h: h}
	sock, err := socketOf(nc)
	switch {
	case err == nil && l.ep != nil:
		c.tls, _ = nc.(*tls.Conn)
		c.sock = sock
		err = l.ep.attach(c)
	case err == nil, errors.Is(err, errNotPollable):
		err = c.startPortable(nc)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("reactor: attach %v: %w", nc.RemoteAddr(), err)
	}
	return c, nil
}

// socketOf finds the Socket a connection reads from, making one for a
// plain TCP or Unix socket.
func socketOf(nc net.Conn) (*Socket, error) {
	switch c := nc.(type) {
	case *Socket:
		return c, nil
	case *tls.Conn:
		s, ok := c.NetConn().(*Socket)
		if !ok {
			return nil, errors.New("TLS connection is not over a reactor.Socket (see reactor.Wrap)")
		}
		return s, nil
	case syscall.Conn:
		return Wrap(nc).(*Socket), nil
	}
	return nil, fmt.Errorf("%w: %T", errNotPollable, nc)
}

// errNotPollable: the connection has no socket of its own to poll.
var errNotPollable = errors.New("not a socket")

// Read reads what is ready into p, without blocking: ErrWouldBlock when
// nothing is (Readable follows when something is), io.EOF when the peer
// has finished. For TLS, p receives plaintext; records crypto/tls has
// already read are returned before the socket is asked again, so none is
// stranded.
func (c *Conn) Read(p []byte) (int, error) {
	switch {
	case c.closed:
		return 0, ErrClosed
	case c.port != nil:
		return c.port.read(c, p)
	case c.tls != nil:
		return c.tls.Read(p)
	}
	return c.sock.read(p)
}

// Write sends p, or as much of it as the socket takes now, keeping the
// rest (a copy) to send as soon as it can: it never blocks. Buffered says
// how much is waiting; Writable follows when it has gone. The error is
// that of an earlier write that failed.
func (c *Conn) Write(p []byte) error {
	switch {
	case c.closed:
		return ErrClosed
	case c.port != nil:
		return c.port.write(c, p)
	case c.tls != nil:
		return c.writeTLS(p)
	}
	return c.sock.write(p)
}

// maxTLSRecord is the most plaintext one TLS record carries.
const maxTLSRecord = 16 << 10

// writeTLS encrypts p. crypto/tls writes each record with a write of its
// own; what takes more than one record is gathered first and sent with
// one system call.
func (c *Conn) writeTLS(p []byte) error {
	if len(p) <= maxTLSRecord {
		_, err := c.tls.Write(p)
		return err
	}
	c.sock.corked = true
	_, err := c.tls.Write(p)
	c.sock.corked = false
	c.sock.flush()
	if err == nil {
		err = c.sock.werr
	}
	return err
}

// Buffered is the number of bytes written but not yet taken by the
// socket (for TLS, encrypted bytes).
func (c *Conn) Buffered() int {
	if c.port != nil {
		return c.port.buffered()
	}
	return len(c.sock.pending)
}

// WriteErr is the error that ended writing, if one did.
func (c *Conn) WriteErr() error {
	if c.port != nil {
		return c.port.writeErr()
	}
	return c.sock.werr
}

// NetConn is the connection as it was attached (for TLS, the *tls.Conn),
// for its addresses and TLS state. Reading or writing it directly breaks
// the Conn.
func (c *Conn) NetConn() net.Conn {
	switch {
	case c.port != nil:
		return c.port.nc
	case c.tls != nil:
		return c.tls
	}
	return c.sock
}

// Loop is the loop c is attached to.
func (c *Conn) Loop() *Loop { return c.loop }

// Close closes the connection (a TLS connection first sends its
// close_notify, if the socket takes it). Output still buffered is
// dropped. Further events are not delivered.
func (c *Conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if c.port != nil {
		return c.port.close(c)
	}
	c.loop.ep.detach(c)
	if c.tls != nil {
		return c.tls.Close()
	}
	return c.sock.Close()
}
