//lint:file-ignore SA1019 net/http's Transport refuses the :protocol pseudo-header an extended CONNECT (RFC 8441) needs in Go 1.26; x/net/http2's, deprecated in its favour, is the one Go client that sends it.

package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/net/http2"

	"github.com/wsedge/wsedge/internal/wsframe"
)

// h2Client is an HTTP/2 client of the proxy's TLS listener that counts
// the TLS connections it opens. It is x/net's: net/http's Transport
// refuses the :protocol pseudo-header a caller sets.
type h2Client struct {
	tp    *testProxy
	tr    *http2.Transport
	dials atomic.Int32
}

func (tp *testProxy) newH2Client(t *testing.T) *h2Client {
	t.Helper()
	c := &h2Client{tp: tp}
	c.tr = &http2.Transport{
		TLSClientConfig: &tls.Config{RootCAs: tp.roots, ServerName: "127.0.0.1"},
		DialTLSContext: func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
			c.dials.Add(1)
			return (&tls.Dialer{Config: cfg}).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(c.tr.CloseIdleConnections)
	return c
}

// dial opens a WebSocket on path as a stream (RFC 8441 extended CONNECT)
// and returns it as a raw peer.
func (c *h2Client) dial(t *testing.T, path string) (*rawPeer, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	s, resp, err := c.open(ctx, path)
	if err != nil || s == nil {
		return nil, resp, err
	}
	t.Cleanup(func() { s.Close() })
	return &rawPeer{t: t, conn: s, r: bufio.NewReader(s), client: true}, resp, nil
}

// open sends the extended CONNECT and waits, within ctx, for the answer;
// with a 200 it returns the stream, which lives until it is closed.
func (c *h2Client) open(ctx context.Context, path string) (*h2ClientStream, *http.Response, error) {
	streamCtx, cancel := context.WithCancel(context.Background())
	body, send := io.Pipe()
	req, err := http.NewRequestWithContext(streamCtx, http.MethodConnect, "https"+strings.TrimPrefix(c.tp.tlsURL, "wss")+path, body)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	type answer struct {
		resp *http.Response
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := c.tr.RoundTrip(req)
		answered <- answer{resp, err}
	}()
	var a answer
	select {
	case a = <-answered:
	case <-ctx.Done():
		cancel() // the round trip ends with the request's context
		<-answered
		return nil, nil, ctx.Err()
	}
	if a.err != nil || a.resp.StatusCode != http.StatusOK {
		cancel()
		return nil, a.resp, a.err
	}
	s := &h2ClientStream{body: a.resp.Body, out: send, cancel: cancel,
		chunks: make(chan []byte), ended: make(chan struct{}), closed: make(chan struct{})}
	go s.readBody()
	return s, a.resp, nil
}

// h2ClientStream is the client's end of a WebSocket stream. A goroutine
// reads the response body, so that a read deadline can end a Read (the
// conformance catalogue waits with them); writes have no deadline.
type h2ClientStream struct {
	body    io.ReadCloser
	out     *io.PipeWriter
	cancel  context.CancelFunc
	chunks  chan []byte
	ended   chan struct{} // closed with readErr set
	readErr error
	closed  chan struct{}
	once    sync.Once
	pending []byte
	mu      sync.Mutex
	dl      time.Time
}

func (s *h2ClientStream) readBody() {
	defer close(s.ended)
	for {
		buf := make([]byte, 32<<10)
		n, err := s.body.Read(buf)
		if n > 0 {
			select {
			case s.chunks <- buf[:n]:
			case <-s.closed:
				s.readErr = net.ErrClosed
				return
			}
		}
		if err != nil {
			s.readErr = err
			return
		}
	}
}

func (s *h2ClientStream) Read(p []byte) (int, error) {
	if len(s.pending) == 0 {
		s.mu.Lock()
		dl := s.dl
		s.mu.Unlock()
		var expired <-chan time.Time
		if !dl.IsZero() {
			timer := time.NewTimer(time.Until(dl))
			defer timer.Stop()
			expired = timer.C
		}
		select {
		case s.pending = <-s.chunks:
		case <-s.ended:
			return 0, s.readErr
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		}
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

func (s *h2ClientStream) Write(p []byte) (int, error) { return s.out.Write(p) }

func (s *h2ClientStream) Close() error {
	s.once.Do(func() {
		close(s.closed)
		s.out.Close()
		s.body.Close()
		s.cancel()
		<-s.ended // the body's reader has stopped
	})
	return nil
}
func (s *h2ClientStream) LocalAddr() net.Addr  { return streamAddr("client") }
func (s *h2ClientStream) RemoteAddr() net.Addr { return streamAddr("wsedge") }
func (s *h2ClientStream) SetDeadline(t time.Time) error {
	return s.SetReadDeadline(t)
}
func (s *h2ClientStream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.dl = t
	s.mu.Unlock()
	return nil
}
func (s *h2ClientStream) SetWriteDeadline(time.Time) error { return nil }

// closeOnRequest echoes, and closes with code N and reason "bye N" when a
// message says "close N".
func closeOnRequest(c *websocket.Conn, _ *http.Request) {
	for {
		op, m, err := c.ReadMessage()
		if err != nil {
			return
		}
		if code, ok := strings.CutPrefix(string(m), "close "); ok {
			n, _ := strconv.Atoi(code)
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(n, "bye "+code), time.Now().Add(waitLimit))
			continue // the client's answer ends the read
		}
		if c.WriteMessage(op, m) != nil {
			return
		}
	}
}

// TestWebSocketsOverHTTP2: 20 WebSockets over one TLS connection, as
// streams (RFC 8441), to a backend and to a built-in handler: each echoes
// and closes with its own code, from either side, and the connections
// leave nothing behind.
func TestWebSocketsOverHTTP2(t *testing.T) {
	backend := startBackend(t, closeOnRequest)
	tp := startProxy(t, testConfig(backendRoute("/app", backend.wsURL("/")), handlerRoute("/echo", "echo")), true)
	client := tp.newH2Client(t)
	var peers []*rawPeer
	for i := range 20 {
		path := "/app"
		if i%2 == 1 {
			path = "/echo"
		}
		p, resp, err := client.dial(t, path)
		if err != nil || p == nil {
			t.Fatalf("stream %d to %s: %v (status %d)", i, path, err, statusOf(resp))
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("stream %d: %s, want HTTP/2", i, resp.Proto)
		}
		peers = append(peers, p)
	}
	tp.waitConnections(t, 20)
	for i, p := range peers {
		msg := fmt.Sprintf("hello %d", i)
		p.send(true, wsframe.OpText, []byte(msg))
		if f := p.readData(); string(f.payload) != msg {
			t.Errorf("stream %d echoed %q, want %q", i, f.payload, msg)
		}
	}
	for i, p := range peers {
		code := 4000 + i
		if i%2 == 0 { // the backend closes
			p.send(true, wsframe.OpText, []byte("close "+strconv.Itoa(code)))
			p.expectClose(code, "bye "+strconv.Itoa(code))
			p.send(true, wsframe.OpClose, closeMsg(code, ""))
		} else { // the client closes; the built-in answers with its code
			p.send(true, wsframe.OpClose, closeMsg(code, "client bye"))
			p.expectClose(code, "")
		}
	}
	tp.waitConnections(t, 0)
	if n := client.dials.Load(); n != 1 {
		t.Errorf("20 WebSockets took %d TCP connections, want 1", n)
	}
}

// TestHTTP2Off: with listen.http2 false the TLS listener offers HTTP/1.1
// only, and a WebSocket opens with the HTTP/1.1 upgrade; with it on, a
// plain request on a backend route goes over HTTP/2 too.
func TestHTTP2Off(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("http2=%v", on), func(t *testing.T) {
			backend := startMixedBackend(t, websocket.Upgrader{}, echoConn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "page")
			}))
			cfg := testConfig(backendRoute("/app", backend.wsURL("/")))
			cfg.Listen.HTTP2 = &on
			tp := startProxy(t, cfg, true)
			conn, err := tls.Dial("tcp", strings.TrimPrefix(tp.tlsURL, "wss://"),
				&tls.Config{RootCAs: tp.roots, ServerName: "127.0.0.1", NextProtos: []string{"h2", "http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			got := conn.ConnectionState().NegotiatedProtocol
			conn.Close()
			want := "http/1.1"
			if on {
				want = "h2"
			}
			if got != want {
				t.Errorf("ALPN chose %q, want %q", got, want)
			}
			if _, resp, err := tp.dialFrom(t, "127.0.0.2", tp.tlsURL+"/app", nil, nil); err != nil {
				t.Errorf("HTTP/1.1 upgrade: %v (status %d)", err, statusOf(resp))
			}
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tp.roots, ServerName: "127.0.0.1"}, ForceAttemptHTTP2: true}}
			defer hc.CloseIdleConnections()
			resp, err := hc.Get("https" + strings.TrimPrefix(tp.tlsURL, "wss") + "/app")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "page" || resp.ProtoMajor != map[bool]int{true: 2, false: 1}[on] {
				t.Errorf("plain request: %s %q", resp.Proto, body)
			}
		})
	}
}

// TestClientEndsRightAfterItsClose: a client that ends its side right
// behind its close frame (a TCP half-close; Chromium ends its HTTP/2
// stream so) still gets the backend's answer to its close, and the
// closing handshake completes, over HTTP/1.1 and over HTTP/2.
func TestClientEndsRightAfterItsClose(t *testing.T) {
	backend := startBackend(t, echoConn)
	tp := startProxy(t, testConfig(backendRoute("/app", backend.wsURL("/"))), true)
	client := tp.newH2Client(t)
	h2, resp, err := client.dial(t, "/app")
	if err != nil || h2 == nil {
		t.Fatalf("HTTP/2 stream: %v (status %d)", err, statusOf(resp))
	}
	peers := map[string]struct {
		p        *rawPeer
		closeOut func() error
	}{
		"HTTP/1.1": {tp.dialRawClient(t, "/app"), nil},
		"HTTP/2":   {h2, h2.conn.(*h2ClientStream).out.Close},
	}
	tcp := peers["HTTP/1.1"]
	tcp.closeOut = tcp.p.conn.(*net.TCPConn).CloseWrite
	peers["HTTP/1.1"] = tcp
	for name, peer := range peers {
		peer.p.send(true, wsframe.OpClose, closeMsg(4100, "bye"))
		if err := peer.closeOut(); err != nil {
			t.Fatalf("%s: end the client's side: %v", name, err)
		}
		peer.p.expectClose(4100, "")
	}
	tp.log.waitFor(t, "websocket closed", func(a map[string]string) bool { return a["client_close"] == "4100" && a["backend_close"] == "4100" })
	tp.waitConnections(t, 0)
}
