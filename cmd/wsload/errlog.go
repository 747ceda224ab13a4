// Error accounting shared by all connections of a run.
//
// Errors are counted, and a few distinct ones kept as samples for the
// summary; nothing is printed while the run is going, because thousands
// of connections failing the same way would bury the progress lines.

package main

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// maxErrorSamples is how many distinct error strings the summary shows.
const maxErrorSamples = 5

// errorLog counts errors and keeps samples. It is safe for concurrent use;
// the mutex is taken only on the error path, never per message.
type errorLog struct {
	count atomic.Uint64

	mu      sync.Mutex
	samples []string
	seen    map[string]bool
	// fileLimit describes the local open-file limit being reached; it is
	// kept apart so it always heads the samples, however many target
	// errors came first.
	fileLimit string
}

func newErrorLog() *errorLog {
	return &errorLog{seen: make(map[string]bool)}
}

// record counts err and keeps it as a sample if it is new.
func (l *errorLog) record(err error) {
	l.count.Add(1)
	msg := err.Error()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) < maxErrorSamples && !l.seen[msg] {
		l.seen[msg] = true
		l.samples = append(l.samples, msg)
	}
}

// recordFileLimit counts a dial that failed with EMFILE or ENFILE and
// notes that the local open-file limit (limit descriptors) was reached.
func (l *errorLog) recordFileLimit(err error, limit uint64) {
	l.count.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fileLimit == "" {
		l.fileLimit = fmt.Sprintf("local open-file limit reached (%d files): stopped opening connections; "+
			"raise it with `ulimit -n`; this is not a failure of the target: %v", limit, err)
	}
}

// total is the number of errors recorded.
func (l *errorLog) total() uint64 { return l.count.Load() }

// fileLimitReached reports whether a dial hit the local open-file limit.
func (l *errorLog) fileLimitReached() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fileLimit != ""
}

// sampleList returns up to maxErrorSamples distinct errors, the local
// open-file limit first. It is never nil, so JSON shows [] rather than null.
func (l *errorLog) sampleList() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, maxErrorSamples)
	if l.fileLimit != "" {
		out = append(out, l.fileLimit)
	}
	for _, s := range l.samples {
		if len(out) == maxErrorSamples {
			break
		}
		out = append(out, s)
	}
	return out
}
