package reactor

import (
	"sync"
	"sync/atomic"
	"time"
)

// Loop serves connections on one goroutine. Its methods may be called
// from any goroutine unless they say otherwise.
type Loop struct {
	group    *Group
	index    int // position in the group's Loops
	buf      []byte
	headroom int
	tasks    tasks
	timers   timerHeap
	// dueTimers is runTimers' list of the timers it fires, kept to be
	// reused.
	dueTimers []*Timer
	running   sync.WaitGroup
	stopped   bool // set on the loop by shutdown

	// ep is the epoll set on Linux; nil for a portable loop.
	ep *epoll
	// wakeup, for a portable loop, is signalled when tasks are queued.
	wakeup chan struct{}
	// attached are the connections served by goroutines (all of a
	// portable loop's, and those that are not sockets), for shutdown.
	attached map[*Conn]struct{}
	// nextGen numbers connections, so an event that was queued for a
	// connection since closed is not delivered to a new one that got the
	// same descriptor.
	nextGen uint32
	polling atomic.Bool // blocked, or about to block, in epoll_wait
}

// Index is the loop's position in its group's Loops: callers keep
// per-loop state (counters a loop alone writes) in a slice by it.
func (l *Loop) Index() int { return l.index }

func newLoop(g *Group, index int, cfg Config) (*Loop, error) {
	l := &Loop{group: g, index: index, headroom: cfg.Headroom, buf: make([]byte, cfg.Headroom+cfg.BufferSize),
		attached: map[*Conn]struct{}{}}
	if cfg.Portable || !epollSupported {
		l.wakeup = make(chan struct{}, 1)
		return l, nil
	}
	ep, err := newEpoll()
	if err != nil {
		return nil, err
	}
	l.ep = ep
	return l, nil
}

// Post runs f on the loop, after the tasks posted before it. f must not
// block.
func (l *Loop) Post(f func()) {
	l.tasks.push(f)
	if l.ep == nil {
		select {
		case l.wakeup <- struct{}{}:
		default: // a wake-up is already pending
		}
		return
	}
	// The loop sets polling before it checks for tasks and blocks, so
	// either it sees this task or this sees polling set and wakes it.
	if l.polling.Swap(false) {
		l.ep.wake()
	}
}

func (l *Loop) run() {
	defer l.running.Done()
	if l.ep != nil {
		l.runEpoll()
		return
	}
	wait := time.NewTimer(time.Hour)
	defer wait.Stop()
	for !l.stopped {
		if d := l.untilNextTimer(); d >= 0 {
			wait.Reset(d)
			select {
			case <-l.wakeup:
			case <-wait.C:
			}
		} else {
			<-l.wakeup
		}
		l.runTasks()
		l.runTimers()
	}
}

// shutdown closes every connection still attached and stops the loop.
func (l *Loop) shutdown() {
	l.stopped = true
	if l.ep != nil {
		for _, c := range l.ep.conns {
			if c != nil {
				c.Close()
			}
		}
	}
	for c := range l.attached {
		c.Close()
	}
}

// release frees what the loop holds once it has stopped.
func (l *Loop) release() {
	if l.ep != nil {
		l.ep.close()
	}
}
