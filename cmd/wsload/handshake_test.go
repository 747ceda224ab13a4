// End-to-end test of handshake mode against a real loopback server.

package main

import (
	"testing"
	"time"
)

func TestHandshakeMode(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, false)
	s, res := runJSON(t, "-url", srv.wsURL(), "-mode", "handshake", "-c", "2", "-duration", "300ms", "-progress", "0")
	if res.code != 0 {
		t.Errorf("exit %d, want 0; stderr: %s", res.code, res.stderr)
	}
	if s.Handshakes == 0 || s.HandshakesPerSec <= 0 || s.Errors != 0 {
		t.Errorf("handshakes %d (%.0f/s), errors %d %q: want some handshakes and no errors",
			s.Handshakes, s.HandshakesPerSec, s.Errors, s.ErrorSamples)
	}
	if got := srv.upgrades.Load(); got < int64(s.Handshakes) {
		t.Errorf("the server upgraded %d connections, fewer than the %d handshakes counted", got, s.Handshakes)
	}
	if l := s.LatencyUS; l.P50 <= 0 || l.P99 < l.P50 || l.Max < l.P99 {
		t.Errorf("handshake latency %+v: want positive, ordered percentiles", l)
	}
	if s.ConnsOpened != 0 || s.MessagesSent != 0 {
		t.Errorf("handshake summary has idle or echo figures: %+v", s)
	}
	// Every connection was closed with a closing handshake.
	waitFor(t, 5*time.Second, "the server to see every connection closed", func() bool { return srv.open.Load() == 0 })
}

func TestHandshakeModeTargetDown(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, false)
	url := srv.wsURL()
	srv.shutdown()
	s, res := runJSON(t, "-url", url, "-mode", "handshake", "-c", "2", "-duration", "100ms", "-progress", "0")
	if res.code != 1 || s.Handshakes != 0 || s.Errors == 0 {
		t.Errorf("exit %d, handshakes %d, errors %d: want 1, 0 and some errors", res.code, s.Handshakes, s.Errors)
	}
}
