package wsconform

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// handlerWait bounds how long a test waits for its servers' goroutines.
	handlerWait = 10 * time.Second
	// runLimit bounds one Run in a test; the catalogue takes seconds.
	runLimit = time.Minute
)

// testServer is a gorilla/websocket server on loopback. httptest does not
// wait for handlers of hijacked connections, so it tracks them itself:
// cleanup closes every connection and waits for every handler.
type testServer struct {
	url string
	wg  sync.WaitGroup
	mu  sync.Mutex
	ws  map[*websocket.Conn]bool
}

// startServer serves handle on every upgraded connection until the test
// ends.
func startServer(t *testing.T, handle func(*websocket.Conn)) *testServer {
	t.Helper()
	ts := &testServer{ws: make(map[*websocket.Conn]bool)}
	var up websocket.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if !ts.track(c) {
			c.Close()
			return
		}
		defer ts.untrack(c)
		handle(c)
	}))
	ts.url = "ws://" + srv.Listener.Addr().String()
	t.Cleanup(func() {
		srv.Close()
		ts.closeAll()
		waitGroup(t, &ts.wg, "websocket handlers")
	})
	return ts
}

func (ts *testServer) track(c *websocket.Conn) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.ws == nil {
		return false // shutting down
	}
	ts.ws[c] = true
	ts.wg.Add(1)
	return true
}

func (ts *testServer) untrack(c *websocket.Conn) {
	ts.mu.Lock()
	delete(ts.ws, c)
	ts.mu.Unlock()
	c.Close()
	ts.wg.Done()
}

func (ts *testServer) closeAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for c := range ts.ws {
		c.Close()
	}
	ts.ws = nil
}

// waitGroup waits for wg, failing the test if it takes over handlerWait.
func waitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(handlerWait):
		t.Errorf("%s still running %v after the test", what, handlerWait)
	}
}

// streamEcho sends every message back with its type, streaming it through
// NextReader and NextWriter. On an error in the middle of a message it
// returns without closing the writer, so a truncated message is never
// sent as if complete.
func streamEcho(c *websocket.Conn) {
	echoAs(c, func(mt int) int { return mt })
}

// echoAs is streamEcho with the reply's type chosen by typeFor.
func echoAs(c *websocket.Conn, typeFor func(int) int) {
	for {
		mt, r, err := c.NextReader()
		if err != nil {
			return
		}
		w, err := c.NextWriter(typeFor(mt))
		if err != nil {
			return
		}
		if _, err := io.Copy(w, r); err != nil {
			return
		}
		if err := w.Close(); err != nil {
			return
		}
	}
}

// textAsBinaryEcho is a broken echo: every message comes back binary.
func textAsBinaryEcho(c *websocket.Conn) {
	echoAs(c, func(int) int { return websocket.BinaryMessage })
}

// ponglessEcho is a broken echo that never answers pings.
func ponglessEcho(c *websocket.Conn) {
	c.SetPingHandler(func(string) error { return nil })
	streamEcho(c)
}

// rawServer accepts TCP connections on loopback and hands each to serve,
// which owns it. Cleanup closes the listener and waits for every serve.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(handlerWait))
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		waitGroup(t, &wg, "raw server")
	})
	return ln.Addr().String()
}

// runCases runs cases against url with a test-sized time limit.
func runCases(t *testing.T, url string, cases []Case) []Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	results, err := Run(ctx, url, cases)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(results) != len(cases) {
		t.Fatalf("got %d results, want %d", len(results), len(cases))
	}
	return results
}

// runEach runs every case on its own goroutine, each with its own Run,
// and returns the results in the order of cases. Against a broken server
// most cases wait out their Autobahn timeout; this way they do so at once.
func runEach(t *testing.T, url string, cases []Case) []Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	results := make([]Result, len(cases))
	var wg sync.WaitGroup
	for i := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs, err := Run(ctx, url, cases[i:i+1])
			if err != nil || len(rs) != 1 {
				t.Errorf("%s: Run: %v (%d results)", cases[i].ID, err, len(rs))
				return
			}
			results[i] = rs[0]
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return results
	case <-time.After(runLimit + handlerWait):
	}
	// Run returns soon after its context ends; only then may results be read.
	cancel()
	select {
	case <-done:
		t.Fatalf("runs still going %v after they started", runLimit+handlerWait)
	case <-time.After(handlerWait):
		t.Fatalf("runs ignored cancellation for %v", handlerWait)
	}
	return nil
}

// pick returns the catalogue cases whose IDs are listed, in that order.
func pick(t *testing.T, ids ...string) []Case {
	t.Helper()
	byID := make(map[string]Case)
	for _, c := range Cases() {
		byID[c.ID] = c
	}
	out := make([]Case, 0, len(ids))
	for _, id := range ids {
		c, ok := byID[id]
		if !ok {
			t.Fatalf("no case %q in the catalogue", id)
		}
		out = append(out, c)
	}
	return out
}

// section returns the catalogue cases whose IDs start with prefix.
func section(prefix string) []Case {
	var out []Case
	for _, c := range Cases() {
		if len(c.ID) >= len(prefix) && c.ID[:len(prefix)] == prefix {
			out = append(out, c)
		}
	}
	return out
}
