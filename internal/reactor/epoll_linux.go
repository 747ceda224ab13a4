package reactor

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

const epollSupported = true

// epoll is a loop's epoll set, the eventfd other goroutines wake it with,
// and its connections by descriptor.
type epoll struct {
	fd     int
	wakeFD int
	conns  []*Conn // indexed by descriptor
	events []unix.EpollEvent
}

// maxEvents bounds the events one epoll_wait returns.
const maxEvents = 256

func newEpoll() (*epoll, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakeFD, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakeFD)}
	if err := unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, wakeFD, &ev); err != nil {
		unix.Close(fd)
		unix.Close(wakeFD)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &epoll{fd: fd, wakeFD: wakeFD, events: make([]unix.EpollEvent, maxEvents)}, nil
}

// wake interrupts the loop's epoll_wait.
func (e *epoll) wake() {
	var one = [8]byte{1}
	unix.Write(e.wakeFD, one[:])
}

func (e *epoll) close() {
	unix.Close(e.fd)
	unix.Close(e.wakeFD)
}

// attach takes c's socket from Go's poller into this set. Edge-triggered:
// an event comes when something new arrives or room frees up, and the
// socket's readable flag remembers what is left to read.
func (e *epoll) attach(c *Conn) error {
	s := c.sock
	if err := s.detach(); err != nil {
		return err
	}
	c.loop.nextGen++
	c.gen = c.loop.nextGen
	if s.fd >= len(e.conns) {
		grown := make([]*Conn, max(s.fd+1, 2*len(e.conns), 64))
		copy(grown, e.conns)
		e.conns = grown
	}
	e.conns[s.fd] = c
	// Whatever arrived before now is read on the first Readable.
	s.readable = true
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     int32(s.fd),
		Pad:    int32(c.gen),
	}
	if err := unix.EpollCtl(e.fd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		e.conns[s.fd] = nil
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// detach removes c before its descriptor is closed, so no event for it is
// delivered to a later connection that gets the same number.
func (e *epoll) detach(c *Conn) {
	fd := c.sock.fd
	if fd < 0 || fd >= len(e.conns) || e.conns[fd] != c {
		return
	}
	e.conns[fd] = nil
	unix.EpollCtl(e.fd, unix.EPOLL_CTL_DEL, fd, nil)
}

// runEpoll waits for events and runs tasks until the loop is shut down.
func (l *Loop) runEpoll() {
	e := l.ep
	for !l.stopped {
		timeout := -1
		if d := l.untilNextTimer(); d >= 0 {
			timeout = int((d + time.Millisecond - 1) / time.Millisecond)
		}
		l.polling.Store(true)
		if !l.tasks.empty() {
			l.polling.Store(false)
			timeout = 0
		}
		n, err := unix.EpollWait(e.fd, e.events, timeout)
		l.polling.Store(false)
		if err != nil && err != unix.EINTR {
			panic(os.NewSyscallError("epoll_wait", err)) // only a bug gets here
		}
		for i := range max(n, 0) {
			l.dispatch(&e.events[i])
		}
		l.runTasks()
		l.runTimers()
	}
}

// dispatch hands one event to its connection's handler.
func (l *Loop) dispatch(ev *unix.EpollEvent) {
	e := l.ep
	fd := int(ev.Fd)
	if fd == e.wakeFD {
		var buf [8]byte
		unix.Read(e.wakeFD, buf[:])
		return
	}
	if fd >= len(e.conns) {
		return
	}
	c := e.conns[fd]
	if c == nil || c.gen != uint32(ev.Pad) {
		return // closed since the event was queued
	}
	s := c.sock
	const ended = unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR
	if ev.Events&(unix.EPOLLIN|ended) != 0 {
		s.readable = true
		if ev.Events&ended != 0 {
			s.peerShut = true
		}
	}
	if ev.Events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 && len(s.pending) > 0 {
		s.flush()
		if len(s.pending) == 0 || s.werr != nil {
			c.h.Writable(c)
		}
	}
	if s.readable && !c.closed {
		c.h.Readable(c)
	}
}
