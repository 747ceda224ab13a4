package reactor

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestTimerHeapOrder: whatever the order timers are set, reset and
// stopped in, the heap gives them back earliest first.
func TestTimerHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	l := &Loop{}
	timers := make([]Timer, 200)
	want := map[*Timer]int64{}
	for i := range timers {
		l.InitTimer(&timers[i], nil)
	}
	for range 2000 {
		tm := &timers[rng.IntN(len(timers))]
		if rng.IntN(4) == 0 {
			l.StopTimer(tm)
			delete(want, tm)
			continue
		}
		when := 1 + rng.Int64N(1000)
		l.SetTimer(tm, when)
		want[tm] = when
	}
	var got, sorted []int64
	for _, w := range want {
		sorted = append(sorted, w)
	}
	slices.Sort(sorted)
	for len(l.timers) > 0 {
		tm := l.timers[0]
		if want[tm] != tm.when {
			t.Fatalf("heap holds a timer at %d, set to %d", tm.when, want[tm])
		}
		got = append(got, tm.when)
		l.timers.remove(0)
	}
	if !slices.Equal(got, sorted) {
		t.Errorf("timers came out as %v, want %v", got[:min(10, len(got))], sorted[:min(10, len(sorted))])
	}
}

// TestTimersFireOnTheLoop: a timer set from a task fires on the loop, in
// due order, on epoll and portable loops alike.
func TestTimersFireOnTheLoop(t *testing.T) {
	modes(t, func(t *testing.T, portable bool) {
		g := newGroup(t, portable)
		l := g.Next()
		fired := make(chan int, 3)
		timers := make([]Timer, 3)
		l.Post(func() {
			for i := range timers {
				l.InitTimer(&timers[i], func() { fired <- i })
				// 30, 20 and 10 ms from now: they fire in reverse.
				l.SetTimer(&timers[i], Now()+int64(30-10*i)*int64(time.Millisecond))
			}
		})
		for _, want := range []int{2, 1, 0} {
			select {
			case got := <-fired:
				if got != want {
					t.Errorf("timer %d fired, want %d", got, want)
				}
			case <-time.After(waitLimit):
				t.Fatal("a timer never fired")
			}
		}
	})
}

// TestTimerStoppedByAnotherInTheSameRound: of two timers due together, the
// one the first stops or sets again does not fire in that round.
func TestTimerStoppedByAnotherInTheSameRound(t *testing.T) {
	l := &Loop{}
	var a, b, c Timer
	fired := map[string]int{}
	l.InitTimer(&b, func() { fired["b"]++ })
	l.InitTimer(&c, func() { fired["c"]++ })
	l.InitTimer(&a, func() {
		fired["a"]++
		l.StopTimer(&b)
		l.SetTimer(&c, Now()+int64(time.Hour))
	})
	past := Now() - 1
	l.SetTimer(&a, past-2)
	l.SetTimer(&b, past-1)
	l.SetTimer(&c, past)
	l.runTimers()
	if fired["a"] != 1 || fired["b"] != 0 || fired["c"] != 0 {
		t.Errorf("fired %v, want only a", fired)
	}
	if c.Armed() == 0 || len(l.timers) != 1 {
		t.Errorf("c should wait in the heap for its new time (armed %d, heap %d)", c.Armed(), len(l.timers))
	}
}
