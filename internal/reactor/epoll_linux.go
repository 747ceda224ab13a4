package reactor

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const epollSupported = true

// epoll is a loop's epoll set, the eventfd other goroutines wake it with,
// and its connections by descriptor.
//
// The loop never blocks a thread in epoll_wait. An epoll set is itself a
// pollable descriptor, so the loop waits for its set in Go's own poller,
// as any goroutine waits for a socket: parked, holding no thread. Left to
// block in a system call instead, the loop would look to the scheduler
// like a thread stuck in the kernel; its monitor thread would wake every
// 20 µs to hand the loop's P to another thread, and those context switches
// (a hypercall each on a virtual machine) cost more than the relaying.
// For the same reason the calls a loop makes while busy, which never block
// (epoll_wait with no timeout, reads and writes on non-blocking sockets),
// are made raw, unseen by the scheduler.
type epoll struct {
	fd     int
	file   *os.File        // fd, as Go's poller knows it
	raw    syscall.RawConn // waits for fd in Go's poller
	wakeFD int
	conns  []*Conn // indexed by descriptor
	events []unix.EpollEvent
	// ready is the number of events the last wait returned; poll is the
	// function raw.Read calls, made once so that waiting allocates
	// nothing.
	ready    int
	poll     func(uintptr) bool
	deadline int64 // the file's read deadline (a Now value), 0 for none
}

// maxEvents bounds the events one epoll_wait returns.
const maxEvents = 256

func newEpoll() (*epoll, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	e := &epoll{fd: fd, wakeFD: -1, events: make([]unix.EpollEvent, maxEvents)}
	if err := e.init(); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *epoll) init() error {
	var err error
	if e.wakeFD, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(e.wakeFD)}
	if err := unix.EpollCtl(e.fd, unix.EPOLL_CTL_ADD, e.wakeFD, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	// Non-blocking, so that os.NewFile hands it to Go's poller.
	if err := unix.SetNonblock(e.fd, true); err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	e.file = os.NewFile(uintptr(e.fd), "epoll")
	if e.raw, err = e.file.SyscallConn(); err != nil {
		return err
	}
	return nil
}

// wake interrupts the loop's wait.
func (e *epoll) wake() {
	var one = [8]byte{1}
	unix.Write(e.wakeFD, one[:])
}

func (e *epoll) close() {
	if e.file != nil {
		e.file.Close() // closes fd
	} else {
		unix.Close(e.fd)
	}
	if e.wakeFD >= 0 {
		unix.Close(e.wakeFD)
	}
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
		s.closeFD() // the duplicate is the socket now
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// detach forgets c before its descriptor is closed. Closing the
// descriptor takes it out of the epoll set (the loop holds the socket's
// only descriptor), and an event already collected for it is dropped by
// dispatch: the descriptor no longer maps to c, and a new connection that
// gets the same number has a new generation.
func (e *epoll) detach(c *Conn) {
	fd := c.sock.fd
	if fd >= 0 && fd < len(e.conns) && e.conns[fd] == c {
		e.conns[fd] = nil
	}
}

// runEpoll waits for events and runs tasks and timers until the loop is
// shut down.
func (l *Loop) runEpoll() {
	e := l.ep
	// poll collects ready events without blocking and reports whether
	// the loop has anything to do; otherwise raw.Read parks the loop
	// until Go's poller sees the set become readable (or the deadline,
	// the next timer, passes). raw.Read arms the poller before it calls
	// poll, so an event that comes after poll looked is not missed.
	e.poll = func(uintptr) bool {
		e.ready = e.waitNow()
		return e.ready > 0 || !l.tasks.empty() || l.timerDue()
	}
	for !l.stopped {
		e.setDeadline(l.nextTimer())
		l.polling.Store(true)
		if !l.tasks.empty() {
			e.ready = e.waitNow()
		} else if err := e.raw.Read(e.poll); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			panic(fmt.Errorf("reactor: wait for epoll events: %w", err)) // only a bug gets here
		}
		l.polling.Store(false)
		for i := range e.ready {
			l.dispatch(&e.events[i])
		}
		e.ready = 0
		l.runTasks()
		l.runTimers()
	}
}

// waitNow collects the events ready now.
func (e *epoll) waitNow() int {
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_WAIT, uintptr(e.fd),
		uintptr(unsafe.Pointer(&e.events[0])), uintptr(len(e.events)), 0, 0, 0)
	if errno != 0 {
		return 0 // EINTR: nothing collected
	}
	return int(n)
}

// setDeadline makes the wait end by when (a Now value; 0 for never),
// touching the poller's timer only when the deadline changes.
func (e *epoll) setDeadline(when int64) {
	if when == e.deadline {
		return
	}
	e.deadline = when
	if when == 0 {
		e.file.SetReadDeadline(time.Time{})
		return
	}
	e.file.SetReadDeadline(time.Now().Add(time.Duration(when - Now())))
}

// dispatch hands one event to its connection's handler.
func (l *Loop) dispatch(ev *unix.EpollEvent) {
	e := l.ep
	fd := int(ev.Fd)
	if fd == e.wakeFD {
		var buf [8]byte
		rawRead(e.wakeFD, buf[:])
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
