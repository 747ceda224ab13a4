package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/wsframe"
)

// rawPeer is one end of a WebSocket connection driven frame by frame, so
// that tests can send what no library would (bad frames, frames cut at any
// byte) and see exactly the bytes the proxy forwards.
type rawPeer struct {
	t      testing.TB
	conn   net.Conn
	r      *bufio.Reader
	client bool // frames it sends are masked (RFC 6455 section 5.3)
	// upgrade is the 101 a client peer got.
	upgrade *http.Response
}

// dialRawClient opens a WebSocket through the proxy's plain listener by
// hand. Bytes behind the 101 stay in the peer's reader.
func (tp *testProxy) dialRawClient(t testing.TB, path string) *rawPeer {
	t.Helper()
	return tp.dialRawClientWith(t, path, "")
}

// dialRawClientWith is dialRawClient with extra header lines in the
// request (each ending in \r\n), and returns the 101 in the peer.
func (tp *testProxy) dialRawClientWith(t testing.TB, path, extra string) *rawPeer {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(tp.plainURL, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	return rawHandshake(t, c, path, extra)
}

// dialRawClientTLS is dialRawClient over the proxy's TLS listener.
func (tp *testProxy) dialRawClientTLS(t testing.TB, path string) *rawPeer {
	t.Helper()
	c, err := tls.Dial("tcp", strings.TrimPrefix(tp.tlsURL, "wss://"), &tls.Config{RootCAs: tp.roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return rawHandshake(t, c, path, "")
}

func rawHandshake(t testing.TB, c net.Conn, path, extra string) *rawPeer {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	p := &rawPeer{t: t, conn: c, r: bufio.NewReader(c), client: true}
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: relay.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+extra+"\r\n")
	c.SetReadDeadline(time.Now().Add(waitLimit))
	resp, err := http.ReadResponse(p.r, nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: status %d", resp.StatusCode)
	}
	p.upgrade = resp
	return p
}

// rawBackend accepts WebSocket handshakes by hand; early is written in the
// same write as the 101, as a backend that speaks at once does.
type rawBackend struct {
	ln    net.Listener
	conns chan *rawPeer
	early []byte
	extra string // header lines of the 101, each ending in \r\n
}

func startRawBackend(t testing.TB, early []byte) *rawBackend {
	t.Helper()
	return startRawBackendWith(t, early, "")
}

// startRawBackendWith is startRawBackend with extra header lines in the
// 101 (each ending in \r\n).
func startRawBackendWith(t testing.TB, early []byte, extra string) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln, conns: make(chan *rawPeer, 16), early: early, extra: extra}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p := &rawPeer{t: t, conn: c, r: bufio.NewReader(c)}
			req, err := http.ReadRequest(p.r)
			if err != nil {
				t.Errorf("backend: %v", err)
				c.Close()
				continue
			}
			head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Accept: " + wsframe.AcceptKey(req.Header.Get("Sec-Websocket-Key")) + "\r\n" + b.extra + "\r\n"
			c.Write(append([]byte(head), b.early...))
			b.conns <- p
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(b.conns)
		for p := range b.conns {
			p.conn.Close()
		}
	})
	return b
}

func (b *rawBackend) url() string { return "ws://" + b.ln.Addr().String() + "/" }

// accept returns the next connection the proxy made.
func (b *rawBackend) accept(t testing.TB) *rawPeer {
	t.Helper()
	select {
	case p := <-b.conns:
		t.Cleanup(func() { p.conn.Close() })
		return p
	case <-time.After(waitLimit):
		t.Fatal("the proxy never connected to the backend")
		return nil
	}
}

// frameBytes encodes one frame as this peer sends it (masked with a
// random key by a client).
func (p *rawPeer) frameBytes(fin bool, op wsframe.Opcode, payload []byte) []byte {
	var key [4]byte
	if p.client {
		rand.Read(key[:])
	}
	return frame(fin, op, payload, p.client, key)
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	p.conn.SetWriteDeadline(time.Now().Add(waitLimit))
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

func (p *rawPeer) send(fin bool, op wsframe.Opcode, payload []byte) {
	p.t.Helper()
	p.write(p.frameBytes(fin, op, payload))
}

// received is one frame as it arrived: its header, its bytes on the wire
// and its payload unmasked.
type received struct {
	h       wsframe.Header
	wire    []byte
	payload []byte
}

// readFrame reads the next frame, failing the test after waitLimit.
func (p *rawPeer) readFrame() received {
	p.t.Helper()
	f, err := p.tryReadFrame()
	if err != nil {
		p.t.Fatalf("read frame: %v", err)
	}
	return f
}

func (p *rawPeer) tryReadFrame() (received, error) {
	p.conn.SetReadDeadline(time.Now().Add(waitLimit))
	var hdr [wsframe.MaxHeaderLen]byte
	if _, err := io.ReadFull(p.r, hdr[:2]); err != nil {
		return received{}, err
	}
	n := wsframe.HeaderLen(hdr[1])
	if _, err := io.ReadFull(p.r, hdr[2:n]); err != nil {
		return received{}, err
	}
	h, _, err := wsframe.ParseHeader(hdr[:n])
	if err != nil {
		return received{}, err
	}
	wire := make([]byte, n+int(h.Length))
	copy(wire, hdr[:n])
	if _, err := io.ReadFull(p.r, wire[n:]); err != nil {
		return received{}, err
	}
	payload := bytes.Clone(wire[n:])
	if h.Masked {
		wsframe.Mask(h.Key, 0, payload)
	}
	return received{h: h, wire: wire, payload: payload}, nil
}

// readData reads frames up to the next data frame, skipping control
// frames the proxy sends on its own (keepalive pings).
func (p *rawPeer) readData() received {
	p.t.Helper()
	for {
		f := p.readFrame()
		if f.h.Op != wsframe.OpPing {
			return f
		}
	}
}

// expectClose reads until a close frame and checks its code and reason.
func (p *rawPeer) expectClose(code int, reason string) {
	p.t.Helper()
	f := p.readData()
	if f.h.Op != wsframe.OpClose {
		p.t.Fatalf("got opcode %d %q, want a close frame", f.h.Op, f.payload)
	}
	got, gotReason, err := wsframe.ParseClose(f.payload)
	if err != nil || got != code || string(gotReason) != reason {
		p.t.Errorf("close %d %q (%v), want %d %q", got, gotReason, err, code, reason)
	}
}

// expectEnd reads until the connection ends, and checks no close frame
// came first.
func (p *rawPeer) expectEndWithoutClose() {
	p.t.Helper()
	for {
		f, err := p.tryReadFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				p.t.Fatal("the connection was not closed")
			}
			return
		}
		if f.h.Op == wsframe.OpClose {
			p.t.Fatalf("got close frame %q, want the connection dropped", f.payload)
		}
	}
}

func closeMsg(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}
