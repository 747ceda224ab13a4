package proxy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/wsframe"
)

// BenchmarkPump measures forwarding through a running proxy, one
// direction at a time: a raw peer writes b.N messages as pre-built frames
// into one leg, a raw peer on the other leg counts them out. The peers
// allocate nothing, so allocs/op is the proxy's allocations per forwarded
// message; ns/op is the whole pipeline's time per message (peers
// included, on the same cores), for comparison between versions.
func BenchmarkPump(b *testing.B) {
	for _, size := range []int{64, 16 << 10} {
		for _, toBackend := range []bool{true, false} {
			dir := "backend-to-client"
			if toBackend {
				dir = "client-to-backend"
			}
			b.Run(fmt.Sprintf("%s/%dB", dir, size), func(b *testing.B) {
				benchForward(b, size, toBackend, conftypes.MessageRate{})
			})
		}
	}
}

// benchForward runs one case of BenchmarkPump, or of BenchmarkPumpRated
// with a client_message_rate.
func benchForward(b *testing.B, size int, toBackend bool, rate conftypes.MessageRate) {
	backendConns := make(chan net.Conn, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go acceptRawBackend(b, ln, backendConns)
	cfg := testConfig(backendRoute("/ws", "ws://"+ln.Addr().String()+"/"))
	cfg.Limits.ClientMessageRate = rate
	tp := startProxy(b, cfg, false)
	client := dialRaw(b, strings.TrimPrefix(tp.plainURL, "ws://"), "/ws")
	backend := <-backendConns
	b.Cleanup(func() { client.Close(); backend.Close() })

	// Client frames must be masked (RFC 6455 section 5.3); a zero key
	// keeps the payload as is and the frames pre-built.
	src, dst, frame := backend, client, encodeFrame(size, false)
	if toBackend {
		src, dst, frame = client, backend, encodeFrame(size, true)
	}
	const batch = 64
	frames := make([]byte, 0, batch*len(frame))
	for range batch {
		frames = append(frames, frame...)
	}
	send := func(n int) {
		for n > 0 {
			k := min(n, batch)
			if _, err := src.Write(frames[:k*len(frame)]); err != nil {
				b.Error(err)
				return
			}
			n -= k
		}
	}
	counted := make(chan error, 1)
	counter := newMessageReader(dst)
	count := func(n int) {
		go func() { counted <- counter.messages(n) }()
	}
	// Warm up: pools filled, goroutines and buffers in place.
	count(1000)
	send(1000)
	if err := <-counted; err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	count(b.N)
	send(b.N)
	if err := <-counted; err != nil {
		b.Fatal(err)
	}
}

// encodeFrame builds one final binary frame of size bytes, masked with a
// zero key when masked.
func encodeFrame(size int, masked bool) []byte {
	var h []byte
	maskBit := byte(0)
	if masked {
		maskBit = 0x80
	}
	switch {
	case size <= 125:
		h = []byte{0x82, maskBit | byte(size)}
	case size <= 0xffff:
		h = []byte{0x82, maskBit | 126, 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(size))
	default:
		h = []byte{0x82, maskBit | 127, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(h[2:], uint64(size))
	}
	if masked {
		h = append(h, 0, 0, 0, 0)
	}
	return append(h, make([]byte, size)...)
}

// messageReader reads a connection until messages end on it, without
// allocating: the relay's frameCounter finds the frame boundaries.
type messageReader struct {
	c     net.Conn
	buf   []byte
	fc    frameCounter
	ahead int64 // messages read beyond those asked for so far
}

func newMessageReader(c net.Conn) *messageReader {
	return &messageReader{c: c, buf: make([]byte, 64<<10)}
}

// messages returns once n more messages have ended on the connection.
func (m *messageReader) messages(n int) error {
	for m.ahead < int64(n) {
		k, err := m.c.Read(m.buf)
		m.ahead += m.fc.feed(m.buf[:k])
		if err != nil && m.ahead < int64(n) {
			return err
		}
	}
	m.ahead -= int64(n)
	return nil
}

// acceptRawBackend completes one WebSocket handshake by hand and hands
// over the raw connection.
func acceptRawBackend(b *testing.B, ln net.Listener, out chan<- net.Conn) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		b.Error(err)
		c.Close()
		return
	}
	io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "+wsframe.AcceptKey(req.Header.Get("Sec-Websocket-Key"))+"\r\n\r\n")
	out <- c
}

// dialRaw opens a WebSocket through the proxy by hand and returns the raw
// connection, positioned after the 101 response.
func dialRaw(b *testing.B, addr, path string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: bench.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	// Read the response head byte by byte so no frame is buffered away.
	var head []byte
	one := make([]byte, 1)
	for !strings.HasSuffix(string(head), "\r\n\r\n") {
		if _, err := c.Read(one); err != nil {
			b.Fatal(err)
		}
		head = append(head, one[0])
	}
	if !strings.HasPrefix(string(head), "HTTP/1.1 101") {
		b.Fatalf("handshake: %q", head)
	}
	return c
}
