package upstream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/wsframe"
	"github.com/wsedge/wsedge/internal/wstest"
)

func TestLeastConnSpreadsLongLivedConnections(t *testing.T) {
	a, b, c := startIDBackend(t, "a"), startIDBackend(t, "b"), startIDBackend(t, "c")
	p := newTestPool(t, Config{Backends: []string{a.url(), b.url(), c.url()}})

	// A reconnect storm: 90 clients at once, each keeping its connection.
	var got counter
	var wg sync.WaitGroup
	for range 9 {
		wg.Go(func() {
			for range 10 {
				_, id := dial(t, p, nil)
				got.add(id)
			}
		})
	}
	wg.Wait()
	for _, id := range []string{"a", "b", "c"} {
		if n := got.n[id]; n < 28 || n > 32 {
			t.Errorf("backend %s holds %d of 90 connections, want 30±2 (all: %v)", id, n, got.n)
		}
	}
	for _, be := range p.Backends() {
		if be.Active() < 28 || be.Active() > 32 {
			t.Errorf("%s counts %d active, want 30±2", be, be.Active())
		}
	}
}

func TestRoundRobinOrder(t *testing.T) {
	a, b, c := startIDBackend(t, "a"), startIDBackend(t, "b"), startIDBackend(t, "c")
	p := newTestPool(t, Config{Backends: []string{a.url(), b.url(), c.url()}, Balance: BalanceRoundRobin})
	var order []string
	for range 7 {
		conn, id := dial(t, p, nil)
		order = append(order, id)
		closeConn(conn) // round robin ignores load: closing changes nothing
	}
	if got := strings.Join(order, ""); got != "abcabca" {
		t.Errorf("round robin order: got %s, want abcabca", got)
	}
}

func TestHashIsConsistent(t *testing.T) {
	backends := []*idBackend{startIDBackend(t, "a"), startIDBackend(t, "b"), startIDBackend(t, "c"), startIDBackend(t, "d")}
	urls := func(n int) []string {
		var out []string
		for _, b := range backends[:n] {
			out = append(out, b.url())
		}
		return out
	}
	three := newTestPool(t, Config{Backends: urls(3), Balance: BalanceHash, HashKey: "param:room"})
	four := newTestPool(t, Config{Backends: urls(4), Balance: BalanceHash, HashKey: "param:room"})

	const keys = 300
	room := func(i int) httprouter.Params {
		return httprouter.Params{{Key: "room", Value: fmt.Sprintf("room-%d", i)}}
	}
	before := map[int]string{}
	spread := map[string]int{}
	for i := range keys {
		conn, id := dial(t, three, room(i))
		closeConn(conn)
		before[i] = id
		spread[id]++
		// The same key lands on the same backend, whatever the load.
		if conn, again := dial(t, three, room(i)); again != id {
			t.Fatalf("room-%d went to %s, then %s", i, id, again)
		} else {
			closeConn(conn)
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		if spread[id] < keys/6 {
			t.Errorf("backend %s got %d of %d keys: the hash does not spread (%v)", id, spread[id], keys, spread)
		}
	}
	moved := 0
	for i := range keys {
		conn, id := dial(t, four, room(i))
		closeConn(conn)
		if id != before[i] {
			moved++
			if id != "d" {
				t.Errorf("room-%d moved from %s to %s; only moves to the new backend are needed", i, before[i], id)
			}
		}
	}
	// Ideally a quarter of the keys move to the fourth backend.
	if moved > keys/3 || moved < keys/8 {
		t.Errorf("adding a fourth backend moved %d of %d keys, want about a quarter (at most a third)", moved, keys)
	}
}

func TestDeadBackendCostsNothing(t *testing.T) {
	a, b, c := startIDBackend(t, "a"), startIDBackend(t, "b"), startIDBackend(t, "c")
	p := newTestPool(t, Config{Backends: []string{a.url(), b.url(), c.url()}})
	c.srv.Close() // killed: its port now refuses connections

	var got counter
	for range 100 {
		start := time.Now()
		conn, id := dial(t, p, nil)
		closeConn(conn)
		got.add(id)
		// A refused dial is retried on the next backend at once: nobody
		// waits for the dial timeout, let alone the handshake timeout.
		if d := time.Since(start); d >= testEnv().DialTimeout {
			t.Errorf("a handshake took %v, the dial timeout is %v", d, testEnv().DialTimeout)
		}
	}
	if got.n["c"] != 0 || got.n["a"]+got.n["b"] != 100 {
		t.Errorf("connections: %v, want all 100 on a and b", got.n)
	}
	dead := p.Backends()[2]
	if dead.Available() || dead.failures.Load() != 1 {
		t.Errorf("the dead backend: available %v after %d failed dials; want it down after its first failure", dead.Available(), dead.failures.Load())
	}
}

func TestAllBackendsDown(t *testing.T) {
	dead1, dead2 := closedURL(t), closedURL(t)
	p := newTestPool(t, Config{Backends: []string{dead1, dead2}})
	ctx := context.Background()
	_, _, err := p.DialWebSocket(ctx, DialRequest{Header: http.Header{}})
	var nb *NoBackendError
	if err == nil || errors.As(err, &nb) {
		t.Fatalf("first request: got %v, want the dial error from the last backend tried", err)
	}
	_, _, err = p.DialWebSocket(ctx, DialRequest{Header: http.Header{}})
	if !errors.As(err, &nb) {
		t.Fatalf("with every backend marked down: got %v, want NoBackendError", err)
	}
	if nb.RetryAfter <= 0 || nb.RetryAfter > passiveBackoffMin || nb.RetryAfterSeconds() != "1" {
		t.Errorf("RetryAfter %v (%s s), want the 1s backoff", nb.RetryAfter, nb.RetryAfterSeconds())
	}
}

func TestSingleBackendIsNeverSkipped(t *testing.T) {
	ln := listen(t, "tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	p := newTestPool(t, Config{Backend: "ws://" + addr + "/"})
	for range 3 {
		_, _, err := p.DialWebSocket(context.Background(), DialRequest{Header: http.Header{}})
		var nb *NoBackendError
		if err == nil || errors.As(err, &nb) {
			t.Fatalf("got %v, want a dial error each time (a lone backend is always tried)", err)
		}
	}
	// It comes back: the very next request reaches it.
	startIDBackendOn(t, "back", listen(t, "tcp", addr))
	if _, id := dial(t, p, nil); id != "back" {
		t.Errorf("after the backend restarted: got %q", id)
	}
}

func TestActiveHealthCheckRecovers(t *testing.T) {
	for _, ws := range []bool{false, true} {
		t.Run(fmt.Sprintf("websocket=%v", ws), func(t *testing.T) {
			a, b := startIDBackend(t, "a"), startIDBackend(t, "b")
			health := &HealthConfig{Path: "/healthz", WebSocket: ws,
				Interval: conftypes.Duration(20 * time.Millisecond), Timeout: conftypes.Duration(15 * time.Millisecond)}
			p := newTestPool(t, Config{Backends: []string{a.url(), b.url()}, Health: health})
			ctx, cancel := context.WithCancel(context.Background())
			var checks sync.WaitGroup
			checks.Go(func() { p.RunHealthChecks(ctx) })
			t.Cleanup(func() {
				cancel()
				checks.Wait()
			})

			addr := a.addr()
			a.srv.Close()
			backendA := p.Backends()[0]
			waitUntil(t, func() bool { return !backendA.Available() })
			for range 5 { // nothing goes to a while it fails its check; b keeps them
				if _, id := dial(t, p, nil); id != "b" {
					t.Fatalf("a connection went to %s while it was down", id)
				}
			}
			startIDBackendOn(t, "a", listen(t, "tcp", addr))
			waitUntil(t, backendA.Available)
			// least_conn: b holds five connections, a none: a gets the next.
			if _, id := dial(t, p, nil); id != "a" {
				t.Errorf("after recovery: new connection went to %s, want a", id)
			}
		})
	}
}

func TestWSSBackendWithPrivateCA(t *testing.T) {
	dir := t.TempDir()
	caFile, serverCert := privateCA(t, dir, "backend.internal")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var up websocket.Upgrader
		c, err := up.Upgrade(w, r, http.Header{"X-Backend": {"tls"}})
		if err == nil {
			c.ReadMessage()
			c.Close()
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	backend := "wss://" + srv.Listener.Addr().String() + "/"

	// The certificate names backend.internal, not 127.0.0.1: server_name
	// says which name to check.
	p := newTestPool(t, Config{Backend: backend, TLS: &BackendTLSConfig{CA: caFile, ServerName: "backend.internal"}})
	if _, id := dial(t, p, nil); id != "tls" {
		t.Errorf("got %q", id)
	}
	for name, tc := range map[string]*BackendTLSConfig{
		"system roots only": {ServerName: "backend.internal"},
		"wrong name":        {CA: caFile, ServerName: "other.internal"},
	} {
		p := newTestPool(t, Config{Backend: backend, TLS: tc})
		_, _, err := p.DialWebSocket(context.Background(), DialRequest{Header: http.Header{}})
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Errorf("%s: got %v, want a certificate verification error", name, err)
		}
	}
}

// privateCA writes a CA certificate to dir and returns its file and a
// server certificate it signed for name.
func privateCA(t *testing.T, dir, name string) (string, tls.Certificate) {
	t.Helper()
	ca := wstest.NewCert(t, wstest.CertOptions{Names: []string{"test internal CA"}, CA: true})
	server := wstest.NewCert(t, wstest.CertOptions{Names: []string{name}, Parent: ca})
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, server.TLS()
}

func TestUnixSocketBackend(t *testing.T) {
	dir, err := os.MkdirTemp("", "wsedge") // short: socket names are limited to about 100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "app.sock")
	startIDBackendOn(t, "unix", listen(t, "unix", sock))

	p := newTestPool(t, Config{Backend: "ws+unix://" + sock + ":/chat/{room}"})
	conn, id := dial(t, p, httprouter.Params{{Key: "room", Value: "lobby"}})
	if id != "unix" {
		t.Errorf("got %q", id)
	}
	// A close frame over the socket gets the backend's close in return.
	closeFrame := wsframe.AppendControl(nil, wsframe.OpClose, wsframe.AppendClosePayload(nil, 1000, ""), true, [4]byte{1, 2, 3, 4})
	if _, err := conn.NetConn.Write(closeFrame); err != nil {
		t.Errorf("write over the socket: %v", err)
	}
	conn.NetConn.SetReadDeadline(time.Now().Add(waitLimit))
	reply := make([]byte, 4)
	if _, err := io.ReadFull(conn.NetConn, reply); err != nil || !bytes.Equal(reply, []byte{0x88, 2, 0x03, 0xe8}) {
		t.Errorf("read over the socket: % x (%v), want the backend's close 1000", reply, err)
	}

	target, err := p.PickHTTP(DialRequest{Params: httprouter.Params{{Key: "room", Value: "lobby"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Done(nil, false)
	req, _ := http.NewRequest("GET", target.URL, nil)
	resp, err := target.Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok /chat/lobby" {
		t.Errorf("plain request over the socket: got %q", body)
	}
}

// TestEarlyFramesKept: frames a backend sends in the same packet as its
// 101 are read by the handshake along with the response; they must come
// back as Conn.Early, not be lost with the handshake's buffer.
func TestEarlyFramesKept(t *testing.T) {
	ln := listen(t, "tcp", "127.0.0.1:0")
	t.Cleanup(func() { ln.Close() })
	frames := []byte{0x81, 5, 'h', 'e', 'l', 'l', 'o', 0x82, 1, 7}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			t.Errorf("backend: %v", err)
			return
		}
		head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + wsframe.AcceptKey(req.Header.Get("Sec-Websocket-Key")) + "\r\n\r\n"
		c.Write(append([]byte(head), frames...)) // one write: one packet
		io.Copy(io.Discard, c)
	}()
	p := newTestPool(t, Config{Backend: "ws://" + ln.Addr().String() + "/"})
	conn, _ := dial(t, p, nil)
	if !bytes.Equal(conn.Early, frames) {
		t.Errorf("early bytes % x, want % x", conn.Early, frames)
	}
}

func closedURL(t *testing.T) string {
	t.Helper()
	return "ws://" + wstest.ClosedAddr(t) + "/"
}

// waitUntil polls cond until it holds, failing after waitLimit.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	wstest.Eventually(t, waitLimit, cond)
}
