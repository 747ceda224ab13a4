// End-to-end tests of echo mode against real loopback servers, honest and
// misbehaving.

package main

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crypto/tls"
	"github.com/gorilla/websocket"
	"net/http"
	"net/http/httptest"
)

// shortEcho are the flags of a short echo run used by most tests.
func shortEcho(url string, extra ...string) []string {
	return append([]string{"-url", url, "-duration", "300ms", "-progress", "0"}, extra...)
}

// checkCleanEcho asserts a run that found nothing wrong.
func checkCleanEcho(t *testing.T, s summary, res result, conns int) {
	t.Helper()
	if res.code != 0 {
		t.Errorf("exit %d, want 0; stderr: %s", res.code, res.stderr)
	}
	if s.MessagesReceived == 0 || s.MsgsPerSec <= 0 || s.MBPerSec <= 0 {
		t.Errorf("received %d (%.0f msg/s, %.3f MB/s), want some", s.MessagesReceived, s.MsgsPerSec, s.MBPerSec)
	}
	if s.Lost != 0 || s.Corrupted != 0 || s.Reordered != 0 || s.Errors != 0 {
		t.Errorf("lost %d corrupted %d reordered %d errors %d %q, want none",
			s.Lost, s.Corrupted, s.Reordered, s.Errors, s.ErrorSamples)
	}
	if s.MessagesSent != s.MessagesReceived {
		t.Errorf("sent %d, received %d: every echo should be back after the drain", s.MessagesSent, s.MessagesReceived)
	}
	l := s.LatencyUS
	if !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max && l.Mean > 0) {
		t.Errorf("latency %+v: want positive, ordered percentiles", l)
	}
	if s.ConnsOpened != int64(conns) || s.ConnsFailed != 0 || s.ConnsOpenAtEnd != int64(conns) {
		t.Errorf("conns opened %d failed %d open at end %d, want %d/0/%d",
			s.ConnsOpened, s.ConnsFailed, s.ConnsOpenAtEnd, conns, conns)
	}
}

func TestEchoBinary(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, false)
	s, res := runJSON(t, shortEcho(srv.wsURL(), "-c", "4", "-size", "256")...)
	checkCleanEcho(t, s, res, 4)
	if s.Mode != "echo" || s.Size != 256 || s.Window != 1 || s.Connections != 4 {
		t.Errorf("summary settings %q size %d window %d connections %d, want echo/256/1/4", s.Mode, s.Size, s.Window, s.Connections)
	}
	waitFor(t, 5*time.Second, "the server to see every connection closed", func() bool { return srv.open.Load() == 0 })
}

func TestEchoTextWithWindowAndRate(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, false)
	s, res := runJSON(t, shortEcho(srv.wsURL(), "-c", "3", "-text", "-size", "100", "-window", "4", "-rate", "500")...)
	checkCleanEcho(t, s, res, 3)
	// 3 connections at 500/s for 0.3s is 450 messages; allow for timers.
	if s.MessagesSent > 600 {
		t.Errorf("sent %d messages, -rate 500 allows about 450", s.MessagesSent)
	}
}

func TestEchoProgressLines(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, false)
	res := runWsload(t, "-url", srv.wsURL(), "-c", "2", "-duration", "300ms", "-progress", "50ms")
	if res.code != 0 {
		t.Fatalf("exit %d; stderr: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "msg/s") || !strings.Contains(res.stderr, "p99") {
		t.Errorf("no progress lines on stderr: %q", res.stderr)
	}
	for _, want := range []string{"echo mode", "lost, ", "round trip", "wsload cpu"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("text summary lacks %q:\n%s", want, res.stdout)
		}
	}
}

// TestEchoDetectsMisbehaviour runs against servers that corrupt, swap or
// drop one echo, and checks that exactly that is counted.
func TestEchoDetectsMisbehaviour(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                       string
		behave                     newBehaviour
		window                     string
		lost, corrupted, reordered uint64
	}{
		// Corrupted: its slot counts as answered, the next echo is in order.
		{"flip", flipNth(5), "1", 0, 1, 0},
		// 6 arrives early (gap) and 5 late (behind): both out of order.
		{"swap", swapNth(5), "4", 0, 0, 2},
		// 5 never comes back: lost, and 6 arrives after a gap.
		{"drop", dropNth(5), "4", 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t, tc.behave, false)
			s, res := runJSON(t, shortEcho(srv.wsURL(), "-c", "1", "-window", tc.window, "-drain", "200ms")...)
			if s.MessagesSent < 10 {
				t.Fatalf("only %d messages sent; the test needs more", s.MessagesSent)
			}
			if s.Lost != tc.lost || s.Corrupted != tc.corrupted || s.Reordered != tc.reordered {
				t.Errorf("lost %d corrupted %d reordered %d, want %d/%d/%d",
					s.Lost, s.Corrupted, s.Reordered, tc.lost, tc.corrupted, tc.reordered)
			}
			if res.code != 1 {
				t.Errorf("exit %d, want 1 for a misbehaving target", res.code)
			}
		})
	}
}

// TestEchoOfAnotherConnectionIsCorrupted covers misdelivery, which an
// intact checksum alone would not reveal.
func TestEchoOfAnotherConnectionIsCorrupted(t *testing.T) {
	cd := mustCodec(t, 64, false)
	c := &echoConn{liveConn: &liveConn{id: 1}, codec: cd, credits: make(chan struct{}, 1)}
	msg := make([]byte, cd.size)
	cd.encode(msg, header{seq: 0, connID: 2})
	c.check(websocket.BinaryMessage, msg)
	cd.encode(msg, header{seq: 1, connID: 1})
	c.check(websocket.BinaryMessage, msg)
	if c.corrupted.Load() != 1 || c.received.Load() != 1 || c.reordered.Load() != 0 {
		t.Errorf("corrupted %d received %d reordered %d, want 1/1/0",
			c.corrupted.Load(), c.received.Load(), c.reordered.Load())
	}
}

func TestEchoOverTLS(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, true)
	url := srv.wsURL() // wss://
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("ca and servername", func(t *testing.T) {
		// httptest's certificate is also valid for example.com.
		s, res := runJSON(t, shortEcho(url, "-c", "2", "-ca", caFile, "-servername", "example.com")...)
		checkCleanEcho(t, s, res, 2)
	})
	t.Run("insecure", func(t *testing.T) {
		s, res := runJSON(t, shortEcho(url, "-c", "2", "-insecure")...)
		checkCleanEcho(t, s, res, 2)
	})
	t.Run("untrusted", func(t *testing.T) {
		s, res := runJSON(t, shortEcho(url, "-c", "2")...)
		if res.code != 1 || s.ConnsOpened != 0 || s.ConnsFailed != 2 {
			t.Errorf("exit %d, opened %d, failed %d: want 1, 0, 2", res.code, s.ConnsOpened, s.ConnsFailed)
		}
		if len(s.ErrorSamples) == 0 || !strings.Contains(s.ErrorSamples[0], "certificate") {
			t.Errorf("error samples %q, want a certificate error", s.ErrorSamples)
		}
	})
}

func TestCurvesChooseTheKeyExchange(t *testing.T) {
	t.Parallel()
	negotiated := make(chan tls.CurveID, 16)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		negotiated <- r.TLS.CurveID
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			mt, msg, err := ws.ReadMessage()
			if err != nil || ws.WriteMessage(mt, msg) != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	url := "wss" + strings.TrimPrefix(srv.URL, "https") + "/echo"
	for _, tc := range []struct {
		curves string
		want   tls.CurveID
	}{{"x25519", tls.X25519}, {"p256", tls.CurveP256}, {"x25519mlkem768,x25519", tls.X25519MLKEM768}} {
		s, res := runJSON(t, shortEcho(url, "-c", "1", "-insecure", "-curves", tc.curves)...)
		checkCleanEcho(t, s, res, 1)
		if got := <-negotiated; got != tc.want {
			t.Errorf("-curves %s: negotiated %v, want %v", tc.curves, got, tc.want)
		}
	}
	if res := runWsload(t, "-url", url, "-curves", "rot13"); res.code != 2 {
		t.Errorf("-curves rot13: exit %d, want 2", res.code)
	}
}
