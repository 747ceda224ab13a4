package proxy

import (
	"context"
	"sync/atomic"
	"time"
)

// coarseTick is how often the coarse clock advances.
const coarseTick = 250 * time.Millisecond

// coarseClock is the time as of the last tick, for per-message write
// deadlines. Reading it is an atomic load, where time.Now costs about
// 90ns on a virtual machine; and a deadline that stays the same from one
// message to the next does not re-arm the socket's timer on every write
// (the runtime only touches it when the deadline changes). A deadline is
// never shorter than asked: the tick is added to it.
type coarseClock struct {
	now atomic.Int64 // Unix nanoseconds
}

func newCoarseClock() *coarseClock {
	c := &coarseClock{}
	c.now.Store(time.Now().UnixNano())
	return c
}

// run advances the clock until ctx is done. Its owner waits for it.
func (c *coarseClock) run(ctx context.Context) {
	t := time.NewTicker(coarseTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c.now.Store(now.UnixNano())
		}
	}
}

// deadline returns a time at least d from now.
func (c *coarseClock) deadline(d time.Duration) time.Time {
	return time.Unix(0, c.now.Load()+int64(d+coarseTick))
}
