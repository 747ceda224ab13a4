package reactor

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// detach takes the kernel socket away from Go's own poller: it duplicates
// the descriptor and closes the original, whose close removes it from the
// runtime's epoll set. Otherwise every byte that arrives would also wake
// the runtime's poller, for nothing.
func (s *Socket) detach() error {
	sc, ok := s.conn.(syscall.Conn)
	if !ok {
		return fmt.Errorf("%T has no file descriptor", s.conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(orig uintptr) {
		fd, dupErr = unix.FcntlInt(orig, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return err
	}
	if dupErr != nil {
		return os.NewSyscallError("dup", dupErr)
	}
	s.conn.Close()
	s.conn, s.fd = nil, fd
	// Go keeps its sockets non-blocking (O_NONBLOCK), and a duplicate
	// shares the flag with the original's open file.
	return nil
}

// sockAddr asks the kernel for the socket's address or its peer's; an
// empty TCP address if it will not say (the socket is closed).
func (s *Socket) sockAddr(peer bool) net.Addr {
	var sa unix.Sockaddr
	if s.fd >= 0 {
		if peer {
			sa, _ = unix.Getpeername(s.fd)
		} else {
			sa, _ = unix.Getsockname(s.fd)
		}
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(bytes.Clone(a.Addr[:])), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(bytes.Clone(a.Addr[:])), Port: a.Port}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Net: "unix", Name: a.Name}
	}
	return &net.TCPAddr{}
}

// read reads without blocking (see Socket).
func (s *Socket) read(p []byte) (int, error) {
	if !s.readable {
		return 0, ErrWouldBlock
	}
	for {
		n, err := recvRaw(s.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			s.readable = false
			return 0, ErrWouldBlock
		case err != nil:
			s.readable = false
			return 0, os.NewSyscallError("recv", err)
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		if n < len(p) && !s.peerShut {
			s.readable = false
		}
		return n, nil
	}
}

// write sends what the kernel takes and keeps the rest.
func (s *Socket) write(p []byte) error {
	if s.werr != nil {
		return s.werr
	}
	if len(s.pending) > 0 || s.corked {
		s.keep(p)
		return nil
	}
	n, err := s.send(p)
	if err != nil {
		return err
	}
	if n < len(p) {
		s.keep(p[n:])
	}
	return nil
}

// send writes p once (retrying interrupted calls) and returns how much the
// kernel took; a full socket is not an error.
func (s *Socket) send(p []byte) (int, error) {
	for {
		n, err := sendRaw(s.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, nil
		case err != nil:
			s.werr = os.NewSyscallError("send", err)
			s.dropPending()
			return 0, s.werr
		}
		return n, nil
	}
}

// flush sends what is waiting, as far as the kernel takes it.
func (s *Socket) flush() {
	for len(s.pending) > 0 && s.werr == nil {
		n, err := s.send(s.pending)
		if err != nil || n == 0 {
			return
		}
		s.pending = s.pending[:copy(s.pending, s.pending[n:])]
	}
	if len(s.pending) == 0 {
		s.dropPending()
	}
}

func (s *Socket) closeFD() error {
	s.dropPending()
	if s.fd < 0 {
		return nil
	}
	fd := s.fd
	s.fd = -1
	return unix.Close(fd)
}

// recvRaw and sendRaw are recv(2) and send(2) on a non-blocking socket,
// made without telling the Go scheduler a system call is under way (see
// epoll): they cannot block. recv and send rather than read and write, as
// nginx does: they skip the file layer. send with MSG_NOSIGNAL: a peer
// that has gone makes it fail with EPIPE, with no signal to handle.
func recvRaw(fd int, p []byte) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(bufPtr(p)), uintptr(len(p)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func sendRaw(fd int, p []byte) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(bufPtr(p)), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// rawRead is read(2), for the loop's eventfd.
func rawRead(fd int, p []byte) (int, error) {
	n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(bufPtr(p)), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func bufPtr(p []byte) unsafe.Pointer {
	if len(p) == 0 {
		return nil
	}
	return unsafe.Pointer(&p[0])
}
