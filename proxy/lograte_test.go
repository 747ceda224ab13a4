package proxy

import (
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	var l logLimiter
	now := time.Unix(1000, 0)
	logged := 0
	for range 100 {
		if ok, _ := l.allow(403, now); ok {
			logged++
		}
	}
	if logged != refusalLogBurst {
		t.Errorf("a burst of 100 at once: %d lines, want %d", logged, refusalLogBurst)
	}
	if ok, _ := l.allow(404, now); !ok {
		t.Error("another reason is limited by the first one's flood")
	}
	ok, suppressed := l.allow(403, now.Add(time.Second))
	if !ok || suppressed != 100-refusalLogBurst {
		t.Errorf("a second later: ok %v, suppressed %d; want true, %d", ok, suppressed, 100-refusalLogBurst)
	}
	// Over 10 s at 1000 a second, about refusalLogRate a second pass.
	logged = 0
	for i := range 10000 {
		if ok, _ := l.allow(403, now.Add(2*time.Second+time.Duration(i)*time.Millisecond)); ok {
			logged++
		}
	}
	if want := 10 * refusalLogRate; logged < want-1 || logged > want+refusalLogBurst {
		t.Errorf("10 s of flood: %d lines, want about %d", logged, want)
	}
}
