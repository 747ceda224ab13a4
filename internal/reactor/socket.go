package reactor

import (
	"net"
	"sync"
	"time"
)

// Socket is a net.Conn a loop can take over. Until then (and always, on a
// portable loop) it passes every call to the connection it wraps; once
// attached to an epoll loop it reads and writes the kernel socket itself,
// without blocking: a read with nothing ready returns ErrWouldBlock, and a
// write keeps what the kernel does not take. crypto/tls built over a
// Socket thus works on a loop: it retries a temporary read error, and no
// write of its ever fails for want of room.
type Socket struct {
	conn net.Conn // nil once the loop has taken the descriptor

	// The fields below belong to the loop once the Socket is attached.
	fd int
	// readable: the kernel may have data. A read that returns less than
	// asked clears it (the socket is drained), unless the peer has shut
	// down its side, after which reads go on until they return 0.
	readable, peerShut bool
	// corked: writes are kept, not sent, until the writer flushes them
	// together (see Conn.writeTLS).
	corked  bool
	pending []byte // written, not yet taken by the kernel
	werr    error  // why writing stopped
}

var _ net.Conn = (*Socket)(nil)

// Wrap returns c as a Socket, for building TLS over it (tls.Server or
// tls.Client) so that a loop can take the TLS connection over later. Until
// then the Socket behaves as c.
func Wrap(c net.Conn) net.Conn {
	return &Socket{conn: c, fd: -1}
}

// Listener wraps ln so that every connection it accepts is a Socket.
func Listener(ln net.Listener) net.Listener { return socketListener{ln} }

type socketListener struct{ net.Listener }

func (l socketListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}

func (s *Socket) attached() bool { return s.conn == nil }

// Read reads from the wrapped connection, or, once attached, from the
// socket without blocking.
func (s *Socket) Read(p []byte) (int, error) {
	if s.attached() {
		return s.read(p)
	}
	return s.conn.Read(p)
}

// Write writes to the wrapped connection, or, once attached, sends what
// the socket takes now and keeps the rest.
func (s *Socket) Write(p []byte) (int, error) {
	if s.attached() {
		if err := s.write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return s.conn.Write(p)
}

// Close closes the connection.
func (s *Socket) Close() error {
	if s.attached() {
		return s.closeFD()
	}
	return s.conn.Close()
}

// LocalAddr is the local address. An attached Socket keeps no addresses
// (an idle connection is mostly what it keeps) and asks the kernel.
func (s *Socket) LocalAddr() net.Addr {
	if s.attached() {
		return s.sockAddr(false)
	}
	return s.conn.LocalAddr()
}

// RemoteAddr is the peer's address; see LocalAddr.
func (s *Socket) RemoteAddr() net.Addr {
	if s.attached() {
		return s.sockAddr(true)
	}
	return s.conn.RemoteAddr()
}

// SetDeadline sets the wrapped connection's deadlines; an attached Socket
// never blocks, so it has none.
func (s *Socket) SetDeadline(t time.Time) error {
	if s.attached() {
		return nil
	}
	return s.conn.SetDeadline(t)
}

// SetReadDeadline: see SetDeadline.
func (s *Socket) SetReadDeadline(t time.Time) error {
	if s.attached() {
		return nil
	}
	return s.conn.SetReadDeadline(t)
}

// SetWriteDeadline: see SetDeadline.
func (s *Socket) SetWriteDeadline(t time.Time) error {
	if s.attached() {
		return nil
	}
	return s.conn.SetWriteDeadline(t)
}

// pendingPool holds the buffers of output that waits for the kernel. They
// start at pendingSize and grow to what one read brings (a loop buffer,
// plus TLS record overhead) at most, since a connection whose output
// waits is not fed more.
var pendingPool = sync.Pool{New: func() any {
	b := make([]byte, 0, pendingSize)
	return &b
}}

const pendingSize = 64 << 10

// keep adds p to the output waiting for the kernel.
func (s *Socket) keep(p []byte) {
	if s.pending == nil {
		s.pending = (*pendingPool.Get().(*[]byte))[:0]
	}
	s.pending = append(s.pending, p...)
}

// dropPending gives the waiting output's buffer back once it is empty or
// will never be sent.
func (s *Socket) dropPending() {
	if s.pending == nil {
		return
	}
	if cap(s.pending) <= 2*DefaultBufferSize {
		b := s.pending[:0]
		pendingPool.Put(&b)
	}
	s.pending = nil
}
