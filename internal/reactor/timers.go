package reactor

import "time"

// clockBase anchors Now.
var clockBase = time.Now()

// Now is the monotonic clock in nanoseconds since the process started, the
// time Timers are set in. It is never zero after start, so zero can mean
// "not set".
func Now() int64 { return int64(time.Since(clockBase)) + 1 }

// Timer calls a function on its loop at a set time. It is meant to be
// embedded in what it serves: an armed Timer costs its 24 bytes and a
// place in the loop's heap, no goroutine and no runtime timer. A Timer
// belongs to one loop; its methods are called on that loop.
type Timer struct {
	when  int64 // Now when it fires; 0 while not armed
	index int32 // position in the loop's heap; -1 when not in it
	fire  func()
}

// InitTimer prepares t to call fire on l.
func (l *Loop) InitTimer(t *Timer, fire func()) { t.fire, t.index = fire, -1 }

// SetTimer makes t fire at when (a Now value), replacing an earlier
// setting.
func (l *Loop) SetTimer(t *Timer, when int64) {
	h := &l.timers
	if t.index >= 0 {
		t.when = when
		h.fix(int(t.index))
		return
	}
	t.when = when
	h.push(t)
}

// StopTimer disarms t; if it was due in the round of timers now firing,
// it does not fire.
func (l *Loop) StopTimer(t *Timer) {
	if t.index >= 0 {
		l.timers.remove(int(t.index))
	}
	t.when, t.index = 0, -1
}

// firing marks a Timer taken from the heap to fire in this round.
const firing = -2

// Armed reports when t fires, or 0.
func (t *Timer) Armed() int64 { return t.when }

// runTimers fires the timers that are due. A timer set again while they
// fire, even for a time already past, waits for the next round: the loop
// goes back to its events first.
func (l *Loop) runTimers() {
	h := &l.timers
	if len(*h) == 0 || (*h)[0].when > Now() {
		return
	}
	now := Now()
	due := l.dueTimers[:0]
	for len(*h) > 0 && (*h)[0].when <= now {
		t := (*h)[0]
		h.remove(0)
		t.when, t.index = 0, firing
		due = append(due, t)
	}
	for i, t := range due {
		if t.index == firing { // not set again or stopped by an earlier one
			t.index = -1
			t.fire()
		}
		due[i] = nil
	}
	l.dueTimers = due[:0]
}

// untilNextTimer is how long the loop may wait for events before a timer
// is due: -1 with none armed (wait for ever), 0 if one is due now.
func (l *Loop) untilNextTimer() time.Duration {
	h := l.timers
	if len(h) == 0 {
		return -1
	}
	return max(time.Duration(h[0].when-Now()), 0)
}

// nextTimer is when the next timer is due (a Now value), or 0.
func (l *Loop) nextTimer() int64 {
	if len(l.timers) == 0 {
		return 0
	}
	return l.timers[0].when
}

// timerDue reports whether a timer is due now.
func (l *Loop) timerDue() bool { return len(l.timers) > 0 && l.timers[0].when <= Now() }

// timerHeap is a min-heap of timers by when.
type timerHeap []*Timer

func (h *timerHeap) push(t *Timer) {
	t.index = int32(len(*h))
	*h = append(*h, t)
	h.up(len(*h) - 1)
}

func (h *timerHeap) remove(i int) {
	s := *h
	last := len(s) - 1
	s[i].index = -1
	if i != last {
		s[i] = s[last]
		s[i].index = int32(i)
	}
	s[last] = nil
	*h = s[:last]
	if i != last {
		h.fix(i)
	}
}

func (h *timerHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h timerHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].when <= h[i].when {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

// down moves h[i] down and reports whether it moved.
func (h timerHeap) down(i int) bool {
	start := i
	for {
		child := 2*i + 1
		if child >= len(h) {
			break
		}
		if r := child + 1; r < len(h) && h[r].when < h[child].when {
			child = r
		}
		if h[i].when <= h[child].when {
			break
		}
		h.swap(i, child)
		i = child
	}
	return i > start
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = int32(i), int32(j)
}
