package proxy

import (
	"sync"
	"time"
)

// Refusals are logged at info (issue 9), but a flood of bad requests must
// not fill the disk: each reason (its status) gets refusalLogBurst lines
// at once and refusalLogRate a second after that; the lines dropped are
// counted and reported by the next line logged for the reason.
const (
	refusalLogBurst = 5
	refusalLogRate  = 5 // lines per second
)

// logLimiter is a token bucket per reason. The set of reasons is small
// and fixed (HTTP statuses wsedge answers), so the map stays small.
type logLimiter struct {
	mu      sync.Mutex
	buckets map[int]*logBucket
}

type logBucket struct {
	tokens     float64
	last       time.Time
	suppressed int
}

// allow reports whether a line for reason may be logged now and, if so,
// how many were suppressed since the last one.
func (l *logLimiter) allow(reason int, now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[int]*logBucket{}
	}
	b := l.buckets[reason]
	if b == nil {
		b = &logBucket{tokens: refusalLogBurst, last: now}
		l.buckets[reason] = b
	}
	b.tokens = min(refusalLogBurst, b.tokens+now.Sub(b.last).Seconds()*refusalLogRate)
	b.last = now
	if b.tokens < 1 {
		b.suppressed++
		return false, 0
	}
	b.tokens--
	suppressed, b.suppressed = b.suppressed, 0
	return true, suppressed
}
