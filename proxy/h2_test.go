package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
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
// and returns it as a raw peer; the request's context bounds every read
// and write of it by waitLimit.
func (c *h2Client) dial(t *testing.T, path string) (*rawPeer, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	body, send := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodConnect, "https"+strings.TrimPrefix(c.tp.tlsURL, "wss")+path, body)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	resp, err := c.tr.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		cancel()
		return nil, resp, err
	}
	s := &h2ClientStream{in: resp.Body, out: send, cancel: cancel}
	t.Cleanup(func() { s.Close() })
	return &rawPeer{t: t, conn: s, r: bufio.NewReader(s), client: true}, resp, nil
}

// h2ClientStream is the client's end of a WebSocket stream. Deadlines are
// the request context's.
type h2ClientStream struct {
	in     io.ReadCloser
	out    *io.PipeWriter
	cancel context.CancelFunc
}

func (s *h2ClientStream) Read(p []byte) (int, error)  { return s.in.Read(p) }
func (s *h2ClientStream) Write(p []byte) (int, error) { return s.out.Write(p) }
func (s *h2ClientStream) Close() error {
	s.out.Close()
	s.in.Close()
	s.cancel()
	return nil
}
func (s *h2ClientStream) LocalAddr() net.Addr              { return streamAddr("client") }
func (s *h2ClientStream) RemoteAddr() net.Addr             { return streamAddr("wsedge") }
func (s *h2ClientStream) SetDeadline(time.Time) error      { return nil }
func (s *h2ClientStream) SetReadDeadline(time.Time) error  { return nil }
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
