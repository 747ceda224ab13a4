package interop

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// edgeLog collects what wsedge writes on stdout and stderr (the harness
// gives it both, and starts it with -log-level debug): slog's text
// format, one record a line, among whatever else the process prints (a
// race report). It wakes waitRecords whenever it grows.
type edgeLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed (and replaced) by every Write
}

func newEdgeLog() *edgeLog { return &edgeLog{changed: make(chan struct{})} }

// Write appends p. os/exec calls it from one goroutine at a time with
// whatever a read of the pipe brought: a line may arrive in pieces.
func (l *edgeLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// String is everything written so far.
func (l *edgeLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// records parses the complete lines written so far (a last line without
// its newline is still arriving) and returns those that are slog records
// and satisfy match, in order, with the channel the next Write closes.
func (l *edgeLog) records(match func(logRecord) bool) ([]logRecord, <-chan struct{}) {
	l.mu.Lock()
	text, changed := l.buf.String(), l.changed
	l.mu.Unlock()
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	} else {
		text = ""
	}
	var found []logRecord
	for _, line := range strings.Split(text, "\n") {
		if r, ok := parseLogLine(line); ok && match(r) {
			found = append(found, r)
		}
	}
	return found, changed
}

// logRecord is one line of wsedge's log by key: msg, level, route,
// client (the client's IP:port, that of its TCP connection), query (the
// request's query, redacted), and so on.
type logRecord map[string]string

// parseLogLine parses a line of slog's text format: space-separated
// key=value pairs, a value quoted with strconv.Quote when it holds a
// space, a quote, '=' or a non-printing character (query="id=..."). It
// reports false for a line that is not one (a race report, a panic) or
// has no msg.
func parseLogLine(line string) (logRecord, bool) {
	r := logRecord{}
	for rest := strings.TrimSpace(line); rest != ""; rest = strings.TrimLeft(rest, " ") {
		key, after, ok := strings.Cut(rest, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \"") {
			return nil, false
		}
		var value string
		if strings.HasPrefix(after, `"`) {
			quoted, err := strconv.QuotedPrefix(after)
			if err != nil {
				return nil, false
			}
			value, _ = strconv.Unquote(quoted)
			rest = after[len(quoted):]
		} else if i := strings.IndexByte(after, ' '); i >= 0 {
			value, rest = after[:i], after[i:]
		} else {
			value, rest = after, ""
		}
		if rest != "" && rest[0] != ' ' {
			return nil, false
		}
		r[key] = value
	}
	if _, ok := r["msg"]; !ok {
		return nil, false
	}
	return r, true
}

// waitRecords waits until at least n records of wsedge's log satisfy
// match and returns all those that do. It fails the test if they do not
// all come within waitLimit, or if wsedge exits first. wsedge writes a
// line before it acts on it (a "websocket opened" line comes before the
// socket's first frame is relayed), but the line reaches the test
// through a pipe and a copying goroutine: a peer may see the effect
// first, hence the wait.
func (e *edge) waitRecords(t *testing.T, what string, n int, match func(logRecord) bool) []logRecord {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	exited := false
	for {
		found, changed := e.logs.records(match)
		if len(found) >= n {
			return found
		}
		if exited {
			t.Fatalf("wsedge exited with %d of %d log lines of %s", len(found), n, what)
		}
		select {
		case <-changed:
		case <-e.done:
			exited = true // look once more: its last lines came with the end
		case <-deadline.C:
			t.Fatalf("wsedge logged %d of %d lines of %s within %v", len(found), n, what, waitLimit)
		}
	}
}
