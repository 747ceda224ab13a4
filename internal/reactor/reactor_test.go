package reactor

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/wstest"
)

const waitLimit = 10 * time.Second

// modes runs a test on epoll (where the system has it) and on the
// portable loops.
func modes(t *testing.T, test func(t *testing.T, portable bool)) {
	if epollSupported {
		t.Run("epoll", func(t *testing.T) { test(t, false) })
	}
	t.Run("portable", func(t *testing.T) { test(t, true) })
}

// echoHandler writes back everything it reads, pausing its reads while
// output waits (the backpressure a relay needs), and records what it saw.
type echoHandler struct {
	buf      []byte
	paused   bool
	writable atomic.Int32 // Writable calls; read by the test
	ended    chan error   // the read error that ended the connection
}

func newEchoHandler() *echoHandler {
	return &echoHandler{buf: make([]byte, 4096), ended: make(chan error, 1)}
}

func (h *echoHandler) Readable(c *Conn) {
	for !h.paused {
		n, err := c.Read(h.buf)
		if n > 0 {
			if werr := c.Write(h.buf[:n]); werr != nil {
				h.end(c, werr)
				return
			}
			h.paused = c.Buffered() > 0
		}
		if errors.Is(err, ErrWouldBlock) {
			return
		}
		if err != nil {
			h.end(c, err)
			return
		}
	}
}

func (h *echoHandler) Writable(c *Conn) {
	h.writable.Add(1)
	if err := c.WriteErr(); err != nil {
		h.end(c, err)
		return
	}
	h.paused = false
	h.Readable(c)
}

func (h *echoHandler) end(c *Conn, err error) {
	c.Close()
	h.ended <- err
}

// serveEcho accepts one connection on ln and attaches it to a loop of g
// with an echoHandler.
func serveEcho(t *testing.T, g *Group, ln net.Listener, wrap func(net.Conn) net.Conn) *echoHandler {
	t.Helper()
	h := newEchoHandler()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Errorf("accept: %v", err)
			close(accepted)
			return
		}
		accepted <- wrap(c)
	}()
	return attachWhenAccepted(t, g, accepted, h)
}

func attachWhenAccepted(t *testing.T, g *Group, accepted chan net.Conn, h *echoHandler) *echoHandler {
	t.Helper()
	select {
	case c := <-accepted:
		if c == nil {
			t.FailNow()
		}
		l := g.Next()
		peer := c.RemoteAddr().String()
		l.Post(func() {
			ac, err := l.Attach(c, h)
			if err != nil {
				t.Errorf("attach: %v", err)
				return
			}
			// An attached socket still knows its peer, though the
			// connection Go opened is gone.
			if got := ac.NetConn().RemoteAddr().String(); got != peer {
				t.Errorf("attached connection's peer: %s, want %s", got, peer)
			}
			// The first Readable comes with the first data; try at once
			// for what came before the attach.
			h.Readable(ac)
		})
	case <-time.After(waitLimit):
		t.Fatal("no connection accepted")
	}
	return h
}

func newGroup(t *testing.T, portable bool) *Group {
	t.Helper()
	g, err := New(Config{Loops: 2, BufferSize: 8 << 10, Portable: portable})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

func identity(c net.Conn) net.Conn { return c }

func TestEchoManyWrites(t *testing.T) {
	modes(t, func(t *testing.T, portable bool) {
		g := newGroup(t, portable)
		ln := wstest.Listen(t)
		dialed := make(chan net.Conn, 1)
		go func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Errorf("dial: %v", err)
			}
			dialed <- c
		}()
		h := serveEcho(t, g, ln, identity)
		c := <-dialed
		if c == nil {
			t.FailNow()
		}
		defer c.Close()
		checkEcho(t, c, 2000, 100)
		c.Close()
		select {
		case err := <-h.ended:
			if err != io.EOF {
				t.Errorf("connection ended with %v, want io.EOF", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("the loop never saw the connection end")
		}
	})
}

// checkEcho sends n messages of size bytes on c, reading the echo of each
// back before the next, and checks every byte.
func checkEcho(t *testing.T, c net.Conn, n, size int) {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitLimit))
	msg := make([]byte, size)
	got := make([]byte, size)
	for i := range n {
		rand.Read(msg)
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("echo %d differs", i)
		}
	}
}

// TestBackpressureBoundsBuffering: a peer that writes 16 MiB without
// reading fills the echo's socket; the handler stops reading while its
// output waits, so what it buffers stays around one read, and everything
// arrives once the peer reads.
func TestBackpressureBoundsBuffering(t *testing.T) {
	modes(t, func(t *testing.T, portable bool) {
		g := newGroup(t, portable)
		ln := wstest.Listen(t)
		dialed := make(chan net.Conn, 1)
		go func() {
			c, _ := net.Dial("tcp", ln.Addr().String())
			dialed <- c
		}()
		h := serveEcho(t, g, ln, identity)
		c := <-dialed
		if c == nil {
			t.FailNow()
		}
		defer c.Close()
		const total = 16 << 20
		data := make([]byte, total)
		rand.Read(data)
		writeDone := make(chan error, 1)
		go func() {
			_, err := c.Write(data)
			writeDone <- err
		}()
		// Wait until the echo's output waits: its peer has stopped reading.
		var buffered int
		wstest.Eventually(t, waitLimit, func() bool {
			buffered = maxBuffered(t, g)
			return buffered > 0
		})
		if buffered > 2*len(h.buf) {
			t.Errorf("echo buffered %d bytes while its peer did not read, want at most about one read (%d)", buffered, len(h.buf))
		}
		got := make([]byte, total)
		c.SetReadDeadline(time.Now().Add(waitLimit))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("read back: %v", err)
		}
		if !bytes.Equal(got, data) {
			t.Error("16 MiB came back changed")
		}
		select {
		case err := <-writeDone:
			if err != nil {
				t.Errorf("write: %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("writer never finished")
		}
		if h.writable.Load() == 0 {
			t.Error("Writable was never called, so the output never waited: the test proved nothing")
		}
	})
}

// maxBuffered is the most output any connection of g has waiting.
func maxBuffered(t *testing.T, g *Group) int {
	results := make(chan int, len(g.loops))
	for _, l := range g.loops {
		l.Post(func() {
			n := 0
			for c := range loopConns(l) {
				n = max(n, c.Buffered())
			}
			results <- n
		})
	}
	most := 0
	for range g.loops {
		select {
		case n := <-results:
			most = max(most, n)
		case <-time.After(waitLimit):
			t.Fatal("a loop did not run a posted task")
		}
	}
	return most
}

// loopConns lists a loop's attached connections (on the loop).
func loopConns(l *Loop) map[*Conn]struct{} {
	out := map[*Conn]struct{}{}
	if l.ep != nil {
		for _, c := range l.ep.conns {
			if c != nil {
				out[c] = struct{}{}
			}
		}
		return out
	}
	for c := range l.attached {
		out[c] = struct{}{}
	}
	return out
}

func TestTLSOverSocket(t *testing.T) {
	modes(t, func(t *testing.T, portable bool) {
		cert := wstest.NewCert(t, wstest.CertOptions{Names: []string{"127.0.0.1"}})
		g := newGroup(t, portable)
		ln := wstest.Listen(t)
		serverConfig := &tls.Config{Certificates: []tls.Certificate{cert.TLS()}}
		accepted := make(chan net.Conn, 1)
		go func() {
			raw, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			tc := tls.Server(Wrap(raw), serverConfig)
			tc.SetDeadline(time.Now().Add(waitLimit))
			if err := tc.Handshake(); err != nil {
				t.Errorf("server handshake: %v", err)
				close(accepted)
				return
			}
			tc.SetDeadline(time.Time{})
			accepted <- tc
		}()
		roots := x509.NewCertPool()
		roots.AddCert(cert.Leaf)
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		h := attachWhenAccepted(t, g, accepted, newEchoHandler())
		checkEcho(t, c, 500, 1000)
		// Large writes: many records per read, none may be stranded
		// inside crypto/tls when the socket is drained.
		checkEcho(t, c, 20, 100<<10)
		c.Close()
		select {
		case <-h.ended:
		case <-time.After(waitLimit):
			t.Fatal("the loop never saw the TLS connection end")
		}
	})
}

// TestCloseReleasesEverything: connections attached and closed by Group
// Close leave no descriptor and no goroutine behind.
func TestCloseReleasesEverything(t *testing.T) {
	modes(t, func(t *testing.T, portable bool) {
		baseFDs, baseGoroutines := openFDs(t), runtime.NumGoroutine()
		g, err := New(Config{Loops: 2, Portable: portable})
		if err != nil {
			t.Fatal(err)
		}
		ln := wstest.Listen(t)
		var clients []net.Conn
		var mu sync.Mutex
		for range 50 {
			dialed := make(chan net.Conn, 1)
			go func() {
				c, _ := net.Dial("tcp", ln.Addr().String())
				dialed <- c
			}()
			serveEcho(t, g, ln, identity)
			c := <-dialed
			mu.Lock()
			clients = append(clients, c)
			mu.Unlock()
		}
		for _, c := range clients {
			checkEcho(t, c, 1, 10)
		}
		g.Close()
		for _, c := range clients {
			c.SetReadDeadline(time.Now().Add(waitLimit))
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatal("a client's connection is still open after Close")
			}
			c.Close()
		}
		ln.Close()
		wstest.Eventually(t, waitLimit, func() bool {
			return openFDs(t) <= baseFDs && runtime.NumGoroutine() <= baseGoroutines
		})
	})
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd to count descriptors")
	}
	return len(entries)
}

// TestStreamOnAnyLoop: a connection that is not a socket (an HTTP/2
// stream; here one end of a net.Pipe) is served by goroutines on an epoll
// loop as on a portable one, and closing the group closes it.
func TestStreamOnAnyLoop(t *testing.T) {
	modes(t, func(t *testing.T, portable bool) {
		g := newGroup(t, portable)
		client, stream := net.Pipe()
		defer client.Close()
		accepted := make(chan net.Conn, 1)
		accepted <- stream
		attachWhenAccepted(t, g, accepted, newEchoHandler())
		checkEcho(t, client, 200, 100)
		g.Close()
		client.SetReadDeadline(time.Now().Add(waitLimit))
		if _, err := client.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("after the group closed, the stream's peer read %v, want io.EOF", err)
		}
	})
}
