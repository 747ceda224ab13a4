// Package wstest holds what wsedge's tests share: a real WebSocket echo
// server on loopback, an address nothing listens on, generated
// certificates, and polling with a deadline. Only tests import it.
package wstest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Eventually polls cond every few milliseconds until it holds, and fails
// the test if it still does not after limit. It is how tests wait for
// something that has no event to wait on, instead of sleeping.
func Eventually(t testing.TB, limit time.Duration, cond func() bool) {
	t.Helper()
	EventuallyOr(t, limit, cond, func() string { return fmt.Sprintf("condition not met within %v", limit) })
}

// EventuallyOr is Eventually with a failure message made when it fails.
func EventuallyOr(t testing.TB, limit time.Duration, cond func() bool, failure func() string) {
	t.Helper()
	deadline := time.After(limit)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal(failure())
		}
	}
}

// ClosedAddr returns a loopback host:port that nothing listens on: a dial
// to it is refused.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// EchoServer starts a gorilla WebSocket server on loopback that sends
// every message back with its type, for as long as the test runs, and
// returns its ws://host:port base.
func EchoServer(t testing.TB) string {
	t.Helper()
	var up websocket.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		Echo(c)
	}))
	t.Cleanup(srv.Close)
	return "ws://" + srv.Listener.Addr().String()
}

// Echo sends every message on c back until the connection ends.
func Echo(c *websocket.Conn) {
	for {
		mt, data, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(mt, data); err != nil {
			return
		}
	}
}

// LogBuffer collects log output written from many goroutines, for tests
// that assert on what was logged.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Unavailable ends a test that needs something this machine lacks (a
// peer, a tool, /proc): locally it skips, saying what; under CI=true,
// where .ci/run installs everything the tests need, it fails. It must be
// called on the test's goroutine.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing under CI=true (.ci/run must provide it): "+format, args...)
	}
	t.Skipf("skipped, missing here: "+format, args...)
}

// OpenFDs counts this process's open file descriptors, from /proc/self/fd;
// where there is none (not Linux), see Unavailable.
func OpenFDs(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		Unavailable(t, "cannot count descriptors (%v): the descriptor checks need Linux", err)
	}
	return len(entries)
}

// Chromium finds Debian's chromium (or Chrome) for the browser tests;
// missing, see Unavailable.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Unavailable(t, "chromium is not installed (apt-get install chromium)")
	return ""
}

// Listen listens on a free TCP port of 127.0.0.1. The listener is closed
// at t's cleanup if nothing closed it first.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
