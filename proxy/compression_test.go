package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/wsframe"
	"github.com/wsedge/wsedge/internal/wstest"
	"github.com/wsedge/wsedge/routes"
)

// gorillaDeflate is the offer gorilla's Dialer makes with
// EnableCompression, and the answer its Upgrader gives.
const gorillaDeflate = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// compressible is n bytes of text that deflate shrinks a hundredfold.
func compressible(n int) []byte {
	return bytes.Repeat([]byte("wsedge relays compressed frames as they are. "), n/45+1)[:n]
}

// wireCount counts the bytes a client's socket carried each way: what
// crossed the client's leg, handshake included.
type wireCount struct{ read, written atomic.Int64 }

type countingConn struct {
	net.Conn
	n *wireCount
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.read.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.written.Add(int64(n))
	return n, err
}

// dialCounting opens a WebSocket to url with gorilla's Dialer, offering
// permessage-deflate when compress is set, and counts its wire bytes.
func dialCounting(t *testing.T, url string, compress bool) (*websocket.Conn, *http.Response, *wireCount) {
	t.Helper()
	wire := new(wireCount)
	d := websocket.Dialer{
		HandshakeTimeout:  waitLimit,
		EnableCompression: compress,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var nd net.Dialer
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{c, wire}, nil
		},
	}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (status %d)", url, err, statusOf(resp))
	}
	t.Cleanup(func() { c.Close() })
	return c, resp, wire
}

// echoed sends payload as one text message and checks that it comes back
// whole.
func echoed(t *testing.T, c *websocket.Conn, payload []byte) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(waitLimit))
	if err := c.WriteMessage(websocket.TextMessage, payload); err != nil {
		t.Fatalf("write: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	_, got, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read the echo: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echo: got %d bytes, want the %d sent", len(got), len(payload))
	}
}

// checkWire checks how many bytes the client's leg carried each way for
// a payload sent and echoed: a tenth of it at most when compressed, at
// least all of it when not.
func checkWire(t *testing.T, wire *wireCount, payload int, compressed bool) {
	t.Helper()
	for dir, n := range map[string]int64{"sent": wire.written.Load(), "received": wire.read.Load()} {
		switch {
		case compressed && n >= int64(payload/10):
			t.Errorf("client %s %d bytes on the wire for a %d-byte message, want under a tenth: not compressed", dir, n, payload)
		case !compressed && n < int64(payload):
			t.Errorf("client %s %d bytes on the wire for a %d-byte message, want at least the message", dir, n, payload)
		}
	}
}

// TestCompressionThroughBackendRoute: with compression passthrough (the
// default) the client and the backend negotiate permessage-deflate
// through wsedge, and a compressible megabyte crosses as a few KiB each
// way, intact; with off, no extension is offered or negotiated and the
// megabyte crosses as it is.
func TestCompressionThroughBackendRoute(t *testing.T) {
	const size = 1 << 20
	payload := compressible(size)
	backend := startBackendWith(t, websocket.Upgrader{EnableCompression: true}, echoConn)
	cases := []struct {
		name       string
		mode       string
		compressed bool
	}{
		{"default", "", true},
		{"passthrough", routes.CompressionPassthrough, true},
		{"off", routes.CompressionOff, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt := backendRoute("/ws", backend.wsURL("/"))
			rt.Compression = tc.mode
			cfg := testConfig(rt)
			cfg.Limits.MaxMessageBytes = 2 * size // off's megabyte is under it
			tp := startProxy(t, cfg, false)
			c, resp, wire := dialCounting(t, tp.plainURL+"/ws", true)
			var offer string
			select {
			case r := <-backend.requests:
				offer = r.Header.Get("Sec-Websocket-Extensions")
			case <-time.After(waitLimit):
				t.Fatal("the backend got no handshake")
			}
			answer := resp.Header.Get("Sec-Websocket-Extensions")
			wantOffer, wantAnswer := "", ""
			if tc.compressed {
				wantOffer, wantAnswer = gorillaDeflate, gorillaDeflate
			}
			if offer != wantOffer || answer != wantAnswer {
				t.Errorf("backend was offered %q and the client's 101 answered %q; want %q and %q", offer, answer, wantOffer, wantAnswer)
			}
			echoed(t, c, payload)
			checkWire(t, wire, size, tc.compressed)
			opened := tp.log.waitFor(t, "websocket opened", nil)
			if want := map[bool]string{true: "true", false: "false"}[tc.compressed]; opened["compressed"] != want {
				t.Errorf("upgrade log line: compressed=%s, want %s", opened["compressed"], want)
			}
		})
	}
}

// TestCompressionBuiltinEcho: a built-in handler negotiates
// permessage-deflate itself where the route allows it, and its messages
// are counted like any other.
func TestCompressionBuiltinEcho(t *testing.T) {
	const size = 1 << 20
	payload := compressible(size)
	for _, tc := range []struct {
		mode       string
		compressed bool
	}{{"", true}, {routes.CompressionOff, false}} {
		t.Run("compression="+tc.mode, func(t *testing.T) {
			rt := handlerRoute("/echo", "echo")
			rt.Compression = tc.mode
			cfg := testConfig(rt)
			cfg.Limits.MaxMessageBytes = 2 * size
			tp := startProxy(t, cfg, false, withMetrics)
			c, resp, wire := dialCounting(t, tp.plainURL+"/echo", true)
			want := ""
			if tc.compressed {
				want = gorillaDeflate
			}
			if got := resp.Header.Get("Sec-Websocket-Extensions"); got != want {
				t.Errorf("101 answered extensions %q, want %q", got, want)
			}
			echoed(t, c, payload)
			checkWire(t, wire, size, tc.compressed)
			// The built-in's frame counter follows compressed frames too:
			// one message each way.
			traffic := tp.srv.runtime.Load().routes[0].traffic
			wstest.Eventually(t, waitLimit, func() bool {
				in, _ := traffic.sum(toBackend)
				out, _ := traffic.sum(toClient)
				return in == 1 && out == 1
			})
		})
	}
}

// TestMaxMessageBytesCountsWireBytes: with compression, the relay's
// message limit counts what is on the wire: a compressible megabyte
// passes a 64 KiB limit, 100 KiB of noise does not.
func TestMaxMessageBytesCountsWireBytes(t *testing.T) {
	backend := startBackendWith(t, websocket.Upgrader{EnableCompression: true}, echoConn)
	cfg := testConfig(backendRoute("/ws", backend.wsURL("/")))
	cfg.Limits.MaxMessageBytes = 64 << 10
	tp := startProxy(t, cfg, false)
	c, _, _ := dialCounting(t, tp.plainURL+"/ws", true)
	echoed(t, c, compressible(1<<20))
	noise := make([]byte, 100<<10)
	rand.Read(noise)
	// Written while the close is read: wsedge answers the frame's header
	// with 1009 and may drop the connection under the rest of the write.
	written := make(chan error, 1)
	go func() {
		c.SetWriteDeadline(time.Now().Add(waitLimit))
		written <- c.WriteMessage(websocket.BinaryMessage, noise)
	}()
	defer func() {
		select {
		case <-written:
		case <-time.After(waitLimit):
			t.Error("the write of the noise never returned")
		}
	}()
	if ce := readClose(t, c); ce.Code != wsframe.CloseMessageTooBig {
		t.Errorf("after 100 KiB of noise: close %d %q, want %d", ce.Code, ce.Text, wsframe.CloseMessageTooBig)
	}
}

// TestBackendExtensionRefused: a 101 whose extensions the client did not
// offer, or that the relay cannot carry, is a 502 and a log line; the
// backend's connection is closed.
func TestBackendExtensionRefused(t *testing.T) {
	cases := []struct {
		name    string
		mode    string
		offer   string // the client's Sec-WebSocket-Extensions
		answer  string // the backend's
		wantErr error
	}{
		{"nothing offered", "", "", "permessage-deflate", errBackendExtension},
		{"another extension than offered", "", "permessage-deflate", "x-webkit-deflate-frame", errBackendExtension},
		{"offered, but not permessage-deflate", "", "permessage-deflate, x-custom; level=2", "x-custom; level=2", errUnrelayableExtension},
		{"permessage-deflate twice", "", "permessage-deflate; client_max_window_bits, permessage-deflate", "permessage-deflate, permessage-deflate", errBackendExtension},
		{"malformed answer", "", "permessage-deflate", `permessage-deflate; x="open`, errBackendExtension},
		{"compression off: nothing was offered", routes.CompressionOff, "permessage-deflate", "permessage-deflate", errBackendExtension},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := startRawBackendWith(t, nil, "Sec-WebSocket-Extensions: "+tc.answer+"\r\n")
			rt := backendRoute("/ws", b.url())
			rt.Compression = tc.mode
			tp := startProxy(t, testConfig(rt), false)
			request := "GET /ws HTTP/1.1\r\nHost: relay.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
			if tc.offer != "" {
				request += "Sec-WebSocket-Extensions: " + tc.offer + "\r\n"
			}
			if status := tp.rawRequest(t, request+"\r\n"); status != http.StatusBadGateway {
				t.Errorf("status %d, want 502", status)
			}
			refused := tp.log.waitFor(t, "request refused", nil)
			if refused["status"] != "502" || !strings.Contains(refused["err"], tc.wantErr.Error()) || refused["backend"] != b.url() {
				t.Errorf("log line %v: want status 502, the backend, and err saying %q", refused, tc.wantErr)
			}
			b.accept(t).expectEndWithoutClose()
		})
	}
}

// TestRelayRSV1 follows RFC 7692 section 6: once permessage-deflate is
// negotiated, RSV1 may mark the first frame of a data message, either
// way, and crosses as it is; on a continuation or a control frame it is
// a protocol error, as are RSV2 and RSV3, and RSV1 is one too without
// the extension.
func TestRelayRSV1(t *testing.T) {
	const deflateHeader = "Sec-WebSocket-Extensions: permessage-deflate\r\n"
	withBits := func(f []byte, bits byte) []byte { f[0] |= bits; return f }
	relay := func(t *testing.T, negotiated bool) (client, backend *rawPeer) {
		t.Helper()
		answer := ""
		if negotiated {
			answer = deflateHeader
		}
		b := startRawBackendWith(t, nil, answer)
		tp := startProxy(t, testConfig(backendRoute("/ws", b.url())), false)
		client = tp.dialRawClientWith(t, "/ws", deflateHeader)
		if got := client.upgrade.Header.Get("Sec-Websocket-Extensions"); (got != "") != negotiated {
			t.Fatalf("client's 101 answered extensions %q, negotiated %v", got, negotiated)
		}
		return client, b.accept(t)
	}

	t.Run("compressed frames cross", func(t *testing.T) {
		client, backend := relay(t, true)
		fromClient := [][]byte{
			withBits(client.frameBytes(false, wsframe.OpText, []byte("compressed")), rsv1),
			client.frameBytes(true, wsframe.OpPing, []byte("between")),
			client.frameBytes(true, wsframe.OpContinuation, []byte(" tail")),
			withBits(client.frameBytes(true, wsframe.OpBinary, []byte{1, 2, 3}), rsv1),
		}
		client.write(bytes.Join(fromClient, nil))
		for i, want := range fromClient {
			if got := backend.readFrame(); !bytes.Equal(got.wire, want) {
				t.Errorf("client frame %d reached the backend as % x, want % x", i, head(got.wire), head(want))
			}
		}
		fromBackend := withBits(backend.frameBytes(true, wsframe.OpBinary, []byte("deflated")), rsv1)
		backend.write(fromBackend)
		if got := client.readData(); !bytes.Equal(got.wire, fromBackend) {
			t.Errorf("backend frame reached the client as % x, want % x", got.wire, fromBackend)
		}
	})

	cases := []struct {
		name        string
		negotiated  bool
		fromBackend bool
		passing     int // frames that reach the other peer before the bad one
		frames      func(p *rawPeer) []byte
	}{
		{"RSV1 on a continuation", true, false, 1, func(p *rawPeer) []byte {
			return cat(withBits(p.frameBytes(false, wsframe.OpText, []byte("a")), rsv1), withBits(p.frameBytes(true, wsframe.OpContinuation, []byte("b")), rsv1))
		}},
		{"RSV1 on a ping", true, false, 0, func(p *rawPeer) []byte { return withBits(p.frameBytes(true, wsframe.OpPing, []byte("p")), rsv1) }},
		{"RSV1 on the backend's pong", true, true, 0, func(p *rawPeer) []byte { return withBits(p.frameBytes(true, wsframe.OpPong, []byte("p")), rsv1) }},
		{"RSV2 on a text frame", true, false, 0, func(p *rawPeer) []byte { return withBits(p.frameBytes(true, wsframe.OpText, []byte("x")), 0x20) }},
		{"RSV1 and RSV3 on a text frame", true, false, 0, func(p *rawPeer) []byte {
			return withBits(p.frameBytes(true, wsframe.OpText, []byte("x")), rsv1|0x10)
		}},
		{"RSV1 without the extension", false, false, 0, func(p *rawPeer) []byte { return withBits(p.frameBytes(true, wsframe.OpText, []byte("x")), rsv1) }},
		{"RSV1 from the backend without the extension", false, true, 0, func(p *rawPeer) []byte {
			return withBits(p.frameBytes(true, wsframe.OpBinary, []byte("x")), rsv1)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, backend := relay(t, tc.negotiated)
			sender, other, lost := client, backend, closeClientLost
			if tc.fromBackend {
				sender, other, lost = backend, client, closeBackendLost
			}
			sender.write(tc.frames(sender))
			for range tc.passing {
				other.readData()
			}
			// The other peer hears first, and answers; then the sender
			// gets its 1002 (see "Frames and closing").
			other.expectClose(lost, sender.name()+" protocol error")
			other.send(true, wsframe.OpClose, closeMsg(lost, ""))
			sender.expectClose(wsframe.CloseProtocolError, reasonReservedBits)
		})
	}
}

// name names the peer as wsedge's close reasons do.
func (p *rawPeer) name() string {
	if p.client {
		return "client"
	}
	return "backend"
}

// TestCheckBackendAnswer: the names in a backend's extension answer are
// read as RFC 6455 section 9.1 writes them (parameters, quoted strings,
// any case) and matched against the client's offer.
func TestCheckBackendAnswer(t *testing.T) {
	cases := []struct {
		name        string
		offer       string
		answer      []string
		wantDeflate bool
		wantErr     error
	}{
		{"none offered, none answered", "", nil, false, nil},
		{"offered, none answered", gorillaDeflate, nil, false, nil},
		{"answered as offered", gorillaDeflate, []string{gorillaDeflate}, true, nil},
		{"parameters with quoted commas", `x-other; a="1,2", permessage-deflate; client_max_window_bits`,
			[]string{`permessage-deflate; server_max_window_bits="10"`}, true, nil},
		{"any case", "permessage-deflate", []string{"PerMessage-Deflate"}, true, nil},
		{"on two lines", "permessage-deflate", []string{"", "permessage-deflate"}, true, nil},
		{"a quoted comma is no list separator", `permessage-deflate; x="a,b"`, []string{`permessage-deflate; x="a,x-evil"`}, true, nil},
		{"not offered", "permessage-deflate", []string{"permessage-deflate, x-evil"}, false, errBackendExtension},
		{"not a token", "permessage-deflate", []string{"permessage deflate"}, false, errBackendExtension},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Sec-Websocket-Extensions": tc.answer}
			deflate, err := checkBackendAnswer(h, nil, tc.offer)
			if deflate != tc.wantDeflate || (err == nil) != (tc.wantErr == nil) || err != nil && !strings.Contains(err.Error(), tc.wantErr.Error()) {
				t.Errorf("got %v, %v; want %v, %v", deflate, err, tc.wantDeflate, tc.wantErr)
			}
		})
	}
}
