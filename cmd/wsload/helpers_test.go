// Test helpers: real WebSocket servers on loopback, well-behaved or
// deliberately broken, and a way to run the command in-process.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// behaviour decides what a test server sends back for each message it
// receives on one connection; newBehaviour makes a fresh one per
// connection, so a behaviour may keep state (a count, a held message).
type behaviour func(msg []byte) (replies [][]byte)

type newBehaviour func() behaviour

// echoAll echoes every message, as the target must.
func echoAll() behaviour {
	return func(msg []byte) [][]byte { return [][]byte{msg} }
}

// flipNth echoes every message, but flips a bit in the last byte of
// message n (from 0).
func flipNth(n int) newBehaviour {
	return func() behaviour {
		i := -1
		return func(msg []byte) [][]byte {
			i++
			if i == n {
				bad := bytes.Clone(msg)
				bad[len(bad)-1] ^= 0x01
				return [][]byte{bad}
			}
			return [][]byte{msg}
		}
	}
}

// swapNth echoes every message, but sends message n+1 before message n.
func swapNth(n int) newBehaviour {
	return func() behaviour {
		i := -1
		var held []byte
		return func(msg []byte) [][]byte {
			i++
			switch i {
			case n:
				held = msg
				return nil
			case n + 1:
				return [][]byte{msg, held}
			}
			return [][]byte{msg}
		}
	}
}

// dropNth echoes every message but message n.
func dropNth(n int) newBehaviour {
	return func() behaviour {
		i := -1
		return func(msg []byte) [][]byte {
			i++
			if i == n {
				return nil
			}
			return [][]byte{msg}
		}
	}
}

// testServer is a WebSocket server on 127.0.0.1 that counts connections.
type testServer struct {
	*httptest.Server
	behave newBehaviour

	upgrades atomic.Int64 // successful upgrades
	messages atomic.Int64 // messages received
	open     atomic.Int64 // connections open now
	peak     atomic.Int64 // most connections open at once

	mu      sync.Mutex
	conns   map[*websocket.Conn]bool
	sources map[string]int // upgrades by the client's IP address
}

// newTestServer starts a plain (tls false) or TLS test server; it is shut
// down, connections included, when the test ends.
func newTestServer(t *testing.T, behave newBehaviour, tls bool) *testServer {
	t.Helper()
	s := &testServer{behave: behave, conns: make(map[*websocket.Conn]bool), sources: make(map[string]int)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serveWebSocket))
	// Failed TLS handshakes are expected in some tests; keep them quiet.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.shutdown)
	return s
}

// wsURL is the server's WebSocket URL.
func (s *testServer) wsURL() string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + "/echo"
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *testServer) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.track(ws, true)
	defer s.track(ws, false)
	s.countSource(r.RemoteAddr)
	defer ws.Close()
	s.upgrades.Add(1)
	reply := s.behave()
	for {
		mt, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		s.messages.Add(1)
		for _, out := range reply(msg) {
			if err := ws.WriteMessage(mt, out); err != nil {
				return
			}
		}
	}
}

// track counts a connection opening (add) or closing.
func (s *testServer) track(ws *websocket.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[ws] = true
		n := s.open.Add(1)
		s.peak.Store(max(s.peak.Load(), n))
		return
	}
	delete(s.conns, ws)
	s.open.Add(-1)
}

// countSource records the IP address a connection came from.
func (s *testServer) countSource(remoteAddr string) {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sources[host]++
}

// sourceCounts returns a copy of the upgrades by client IP address.
func (s *testServer) sourceCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.sources)
}

// shutdown closes the remaining WebSocket connections, which
// httptest.Server.Close would otherwise wait for, then the server.
func (s *testServer) shutdown() {
	s.mu.Lock()
	for ws := range s.conns {
		ws.Close()
	}
	s.mu.Unlock()
	s.Close()
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-poll.C:
		}
	}
}

// result is one in-process run of the command.
type result struct {
	code           int
	stdout, stderr string
}

// runWsload runs the command in-process with args.
func runWsload(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// runJSON runs the command with -json and decodes its summary.
func runJSON(t *testing.T, args ...string) (summary, result) {
	t.Helper()
	res := runWsload(t, append(args, "-json")...)
	var s summary
	if err := json.Unmarshal([]byte(res.stdout), &s); err != nil {
		t.Fatalf("exit %d, stdout is not a JSON summary: %v\nstdout: %s\nstderr: %s", res.code, err, res.stdout, res.stderr)
	}
	return s, res
}
