// End-to-end test of idle mode against a real loopback server.

package main

import (
	"encoding/json"
	"testing"
	"time"
)

func TestIdleHoldsConnections(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, false)
	const conns = 20
	s, res := runJSON(t, "-url", srv.wsURL(), "-mode", "idle", "-c", "20", "-duration", "300ms", "-progress", "0")
	if res.code != 0 {
		t.Errorf("exit %d, want 0; stderr: %s", res.code, res.stderr)
	}
	if s.ConnsOpened != conns || s.ConnsFailed != 0 || s.ConnsOpenAtEnd != conns || s.Errors != 0 {
		t.Errorf("opened %d failed %d open at end %d errors %d %q, want %d/0/%d/0",
			s.ConnsOpened, s.ConnsFailed, s.ConnsOpenAtEnd, s.Errors, s.ErrorSamples, conns, conns)
	}
	if got := srv.peak.Load(); got != conns {
		t.Errorf("the server saw at most %d connections at once, want %d", got, conns)
	}
	if s.DurationS < 0.3 {
		t.Errorf("held for %.3fs, want at least the 0.3s asked", s.DurationS)
	}
	if s.MessagesSent != 0 || s.Size != 0 || s.Handshakes != 0 {
		t.Errorf("idle summary has echo or handshake figures: %+v", s)
	}
	waitFor(t, 5*time.Second, "the server to see every connection closed", func() bool { return srv.open.Load() == 0 })
}

// TestIdleCountsDroppedConnections: a server that drops connections
// leaves fewer open at the end, and the drops are errors.
func TestIdleCountsDroppedConnections(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, false)
	const conns = 5
	done := make(chan result)
	go func() {
		done <- runWsload(t, "-url", srv.wsURL(), "-mode", "idle", "-c", "5", "-duration", "1s", "-progress", "0", "-json")
	}()
	waitFor(t, 5*time.Second, "all connections to open", func() bool { return srv.upgrades.Load() == conns })
	srv.mu.Lock()
	for ws := range srv.conns {
		ws.Close() // drop one
		break
	}
	srv.mu.Unlock()
	res := <-done
	var s summary
	if err := json.Unmarshal([]byte(res.stdout), &s); err != nil {
		t.Fatalf("stdout is not a JSON summary: %v\n%s", err, res.stdout)
	}
	if s.ConnsOpened != conns || s.ConnsOpenAtEnd != conns-1 || s.Errors != 1 {
		t.Errorf("opened %d, open at end %d, errors %d: want %d, %d, 1", s.ConnsOpened, s.ConnsOpenAtEnd, s.Errors, conns, conns-1)
	}
}
