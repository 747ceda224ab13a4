//go:build !linux

package reactor

import (
	"errors"
	"net"
)

// Without epoll every loop is portable; these are never called.
const epollSupported = false

type epoll struct{ conns []*Conn }

var errNoEpoll = errors.New("reactor: epoll is Linux only")

func newEpoll() (*epoll, error)          { return nil, errNoEpoll }
func (*epoll) wake()                     {}
func (*epoll) close()                    {}
func (*epoll) attach(*Conn) error        { return errNoEpoll }
func (*epoll) detach(*Conn)              {}
func (l *Loop) runEpoll()                {}
func (*Socket) read([]byte) (int, error) { return 0, errNoEpoll }
func (*Socket) write([]byte) error       { return errNoEpoll }
func (*Socket) closeFD() error           { return errNoEpoll }
func (*Socket) sockAddr(bool) net.Addr   { return &net.TCPAddr{} }
