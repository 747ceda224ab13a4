package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// WebSockets over HTTP/2 (RFC 8441, issue 11): a browser that was told
// SETTINGS_ENABLE_CONNECT_PROTOCOL opens a WebSocket as a stream of its
// HTTP/2 connection, with an extended CONNECT (:protocol = websocket).
// The stream's DATA frames carry the WebSocket frames, unchanged: wsedge
// relays them to an HTTP/1.1 backend (or serves them with a built-in)
// exactly as it relays a TCP connection's bytes.

// isExtendedConnect reports whether r opens a WebSocket over HTTP/2 (RFC
// 8441 section 4).
func isExtendedConnect(r *http.Request) bool {
	return r.ProtoMajor == 2 && r.Method == http.MethodConnect && r.Header.Get(":protocol") == "websocket"
}

// h2Stream is an HTTP/2 stream that carries a WebSocket, as a net.Conn:
// Read reads the request body (the client's DATA frames), Write writes
// the response body and flushes it at once. The handler that answered
// the CONNECT must not return while the stream is in use (that ends the
// stream): it calls wait, which returns once the stream is closed and no
// write is in progress. The relay serves it on goroutines (it has no
// socket of its own to poll; see reactor.Loop.Attach).
type h2Stream struct {
	body   io.ReadCloser
	w      http.ResponseWriter
	rc     *http.ResponseController
	local  net.Addr
	remote net.Addr

	closeOnce sync.Once
	closed    chan struct{}
	// readMu makes the relay's reads and the handler's last drain (see
	// wait) one after the other.
	readMu sync.Mutex
	// mu orders writes with the handler's return: once done is set, the
	// response writer is the handler's no more.
	mu   sync.Mutex
	done bool
}

// newH2Stream is the stream of r, whose 200 has been sent on w.
func newH2Stream(w http.ResponseWriter, r *http.Request) *h2Stream {
	s := &h2Stream{body: r.Body, w: w, rc: http.NewResponseController(w), closed: make(chan struct{}),
		remote: streamAddr(r.RemoteAddr)}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		s.local = a
	} else {
		s.local = streamAddr("")
	}
	return s
}

func (s *h2Stream) Read(p []byte) (int, error) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	return s.body.Read(p)
}

func (s *h2Stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return 0, net.ErrClosed
	}
	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}
	return n, err
}

// Close ends the stream: the handler's wait returns, and the handler's
// return sends END_STREAM (or RST_STREAM). It never blocks.
func (s *h2Stream) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

// streamEndLinger is how long a closed stream waits for the client's
// END_STREAM before the handler returns. Returning while the client's
// half is open makes Go's server end the stream with END_STREAM and then
// RST_STREAM (NO_ERROR, RFC 9113 section 8.1), which Chromium reports as
// an unclean close (wasClean false, or 1006 if it had just sent its
// close). A client that ends its stream does so right behind its close
// frame (Chromium); one that waits for the server to end first, as RFC
// 6455 section 7.1.1 asks of a TCP client, gets the END_STREAM after
// this, well within the second Autobahn's client allows.
const streamEndLinger = 250 * time.Millisecond

// wait blocks the handler until the stream is closed, then lets the
// client end its half (see streamEndLinger) and makes sure no write is
// in progress or will start, so the handler may return.
func (s *h2Stream) wait() {
	<-s.closed
	// Bounds on what is left: a write blocked on flow control (Go's
	// server resets a stream whose write deadline passes, so not now: a
	// close frame may still be on its way) and the client's END_STREAM.
	end := time.Now().Add(streamEndLinger)
	s.rc.SetWriteDeadline(end)
	s.rc.SetReadDeadline(end)
	var discard [512]byte
	for {
		if _, err := s.Read(discard[:]); err != nil {
			break // the client's END_STREAM, the deadline or a reset
		}
	}
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
}

func (s *h2Stream) LocalAddr() net.Addr  { return s.local }
func (s *h2Stream) RemoteAddr() net.Addr { return s.remote }

func (s *h2Stream) SetDeadline(t time.Time) error {
	if err := s.rc.SetReadDeadline(t); err != nil {
		return err
	}
	return s.rc.SetWriteDeadline(t)
}
func (s *h2Stream) SetReadDeadline(t time.Time) error  { return s.rc.SetReadDeadline(t) }
func (s *h2Stream) SetWriteDeadline(t time.Time) error { return s.rc.SetWriteDeadline(t) }

// streamAddr is an address as the request gave it, for logs.
type streamAddr string

func (a streamAddr) Network() string { return "tcp" }
func (a streamAddr) String() string  { return string(a) }

// Built-in handlers speak through gorilla, whose Upgrader knows only
// HTTP/1.1: it is given the extended CONNECT as the HTTP/1.1 upgrade it
// stands for (asHTTP1Upgrade), and the stream as the hijacked connection,
// which turns the 101 gorilla writes into the stream's 200 (h2Handshake).

// asHTTP1Upgrade is the HTTP/1.1 upgrade request an extended CONNECT
// stands for (RFC 8441 section 5), for gorilla's Upgrader.
func asHTTP1Upgrade(r *http.Request) *http.Request {
	g := r.Clone(r.Context())
	g.Method, g.Proto, g.ProtoMajor, g.ProtoMinor = http.MethodGet, "HTTP/1.1", 1, 1
	g.Header.Del(":protocol")
	g.Header.Set("Connection", "Upgrade")
	g.Header.Set("Upgrade", "websocket")
	// Any well-formed key: the accept value gorilla derives from it is
	// never sent (HTTP/2 has none).
	g.Header.Set("Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	return g
}

// h2Handshake is the stream as gorilla's hijacked connection: the first
// write, gorilla's 101 response head, becomes the stream's 200 with the
// subprotocol and extensions gorilla chose; the rest is the stream's.
type h2Handshake struct {
	*h2Stream
	answered bool
}

func (c *h2Handshake) Write(p []byte) (int, error) {
	if c.answered {
		return c.h2Stream.Write(p)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(p)), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		return 0, fmt.Errorf("answer an extended CONNECT: gorilla wrote %q: %v", p, err)
	}
	answer := http.Header{}
	for _, k := range []string{"Sec-Websocket-Protocol", "Sec-Websocket-Extensions"} {
		if vv := resp.Header.Values(k); len(vv) > 0 {
			answer[k] = vv
		}
	}
	if err := answerExtendedConnect(c.w, answer); err != nil {
		return 0, err
	}
	c.answered = true
	return len(p), nil
}
