package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/reactor"
	"github.com/wsedge/wsedge/internal/wsframe"
	"github.com/wsedge/wsedge/internal/wstest"
)

// eachRelay runs test with the relay on epoll loops and on the portable
// goroutines other systems get.
func eachRelay(t *testing.T, test func(t *testing.T, relay RelayConfig)) {
	t.Run("epoll", func(t *testing.T) { test(t, RelayConfig{}) })
	t.Run("portable", func(t *testing.T) { test(t, RelayConfig{portable: true}) })
}

// rawRelay starts a proxy in front of a raw backend and returns both raw
// ends of one proxied connection.
func rawRelay(t *testing.T, relay RelayConfig, early []byte, edit func(*Config)) (client, backend *rawPeer) {
	t.Helper()
	b := startRawBackend(t, early)
	cfg := testConfig(backendRoute("/ws", b.url()))
	cfg.Relay = relay
	if edit != nil {
		edit(&cfg)
	}
	tp := startProxy(t, cfg, false)
	client = tp.dialRawClient(t, "/ws")
	return client, b.accept(t)
}

// TestRelayForwardsFramesAsTheyAre: frames reach the other peer byte for
// byte (client frames keep the client's masking key), fragments and pings
// between them included, in both directions.
func TestRelayForwardsFramesAsTheyAre(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		client, backend := rawRelay(t, relay, nil, nil)
		fromClient := [][]byte{
			client.frameBytes(false, wsframe.OpText, []byte("frag")),
			client.frameBytes(true, wsframe.OpPing, []byte("client ping")),
			client.frameBytes(false, wsframe.OpContinuation, []byte("men")),
			client.frameBytes(true, wsframe.OpPong, []byte("unsolicited")),
			client.frameBytes(true, wsframe.OpContinuation, []byte("ted")),
			client.frameBytes(true, wsframe.OpBinary, make([]byte, 70000)),
			client.frameBytes(true, wsframe.OpBinary, nil),
		}
		client.write(bytes.Join(fromClient, nil))
		for i, want := range fromClient {
			if got := backend.readFrame(); !bytes.Equal(got.wire, want) {
				t.Errorf("client frame %d reached the backend as % x, want % x", i, head(got.wire), head(want))
			}
		}
		fromBackend := [][]byte{
			backend.frameBytes(true, wsframe.OpText, []byte("hello")),
			backend.frameBytes(true, wsframe.OpPing, []byte("backend ping")),
			backend.frameBytes(false, wsframe.OpBinary, make([]byte, 200)),
			backend.frameBytes(true, wsframe.OpContinuation, make([]byte, 65536)),
		}
		backend.write(bytes.Join(fromBackend, nil))
		for i, want := range fromBackend {
			if got := client.readFrame(); !bytes.Equal(got.wire, want) {
				t.Errorf("backend frame %d reached the client as % x, want % x", i, head(got.wire), head(want))
			}
		}
	})
}

func head(b []byte) []byte { return b[:min(len(b), 16)] }

// TestRelaySplitHeaders: a peer that sends one byte at a time (headers and
// control frames cut anywhere) gets the same frames across.
func TestRelaySplitHeaders(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		client, backend := rawRelay(t, relay, nil, nil)
		frames := [][]byte{
			client.frameBytes(true, wsframe.OpText, bytes.Repeat([]byte("x"), 300)),
			client.frameBytes(true, wsframe.OpPing, bytes.Repeat([]byte("p"), 125)),
			client.frameBytes(true, wsframe.OpBinary, make([]byte, 70000)),
		}
		all := bytes.Join(frames, nil)
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			for i := range min(len(all), 1200) {
				if _, err := client.conn.Write(all[i : i+1]); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
			if _, err := client.conn.Write(all[1200:]); err != nil {
				t.Errorf("write: %v", err)
			}
		}()
		for i, want := range frames {
			if got := backend.readFrame(); !bytes.Equal(got.wire, want) {
				t.Errorf("frame %d arrived as % x, want % x", i, head(got.wire), head(want))
			}
		}
		<-sent
	})
}

// TestRelayEarlyFrames: frames sent right behind the handshake, on either
// leg, are not lost: the backend's were read by the dialer along with its
// 101, the client's arrive before the relay has read anything.
func TestRelayEarlyFrames(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		early := bytes.Join([][]byte{
			frame(true, wsframe.OpText, []byte("welcome"), false, [4]byte{}),
			frame(true, wsframe.OpBinary, []byte{1, 2, 3}, false, [4]byte{}),
		}, nil)
		b := startRawBackend(t, early)
		cfg := testConfig(backendRoute("/ws", b.url()))
		cfg.Relay = relay
		tp := startProxy(t, cfg, false)
		client := tp.dialRawClient(t, "/ws")
		hello := client.frameBytes(true, wsframe.OpText, []byte("right away"))
		client.write(hello)
		backend := b.accept(t)
		if got := client.readFrame(); string(got.payload) != "welcome" {
			t.Errorf("client's first frame: %q, want the backend's early \"welcome\"", got.payload)
		}
		if got := client.readFrame(); !bytes.Equal(got.payload, []byte{1, 2, 3}) {
			t.Errorf("client's second frame: % x", got.payload)
		}
		if got := backend.readFrame(); !bytes.Equal(got.wire, hello) {
			t.Errorf("backend got % x, want the client's early frame", got.wire)
		}
	})
}

// TestRelayFramesWithHandshake: a client that sends its first frames in
// the same write as its handshake request (net/http reads them with the
// request) gets them to the backend, not dropped with net/http's buffer.
func TestRelayFramesWithHandshake(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		b := startRawBackend(t, nil)
		cfg := testConfig(backendRoute("/ws", b.url()))
		cfg.Relay = relay
		tp := startProxy(t, cfg, false)
		c, err := net.Dial("tcp", strings.TrimPrefix(tp.plainURL, "ws://"))
		if err != nil {
			t.Fatal(err)
		}
		client := &rawPeer{t: t, conn: c, r: bufio.NewReader(c), client: true}
		t.Cleanup(func() { c.Close() })
		frames := cat(client.frameBytes(true, wsframe.OpText, []byte("no waiting")), client.frameBytes(true, wsframe.OpBinary, []byte{4, 2}))
		client.write(append([]byte("GET /ws HTTP/1.1\r\nHost: relay.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"), frames...))
		c.SetReadDeadline(time.Now().Add(waitLimit))
		if resp, err := http.ReadResponse(client.r, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake: %v, status %d", err, statusOf(resp))
		}
		backend := b.accept(t)
		got := cat(backend.readFrame().wire, backend.readFrame().wire)
		if !bytes.Equal(got, frames) {
			t.Errorf("backend got % x, want the client's frames % x", got, frames)
		}
	})
}

// TestRelayCloseVerbatim: a close frame with an application code and a
// reason crosses byte for byte each way, and the answer comes back.
func TestRelayCloseVerbatim(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		for _, fromClient := range []bool{true, false} {
			client, backend := rawRelay(t, relay, nil, nil)
			closer, other := client, backend
			if !fromClient {
				closer, other = backend, client
			}
			c := closer.frameBytes(true, wsframe.OpClose, closeMsg(4321, "done here"))
			closer.write(c)
			if got := other.readData(); !bytes.Equal(got.wire, c) {
				t.Errorf("close from client=%v arrived as % x, want % x", fromClient, got.wire, c)
			}
			reply := other.frameBytes(true, wsframe.OpClose, closeMsg(4321, ""))
			other.write(reply)
			if got := closer.readData(); !bytes.Equal(got.wire, reply) {
				t.Errorf("reply arrived as % x, want % x", got.wire, reply)
			}
			closer.expectEndWithoutClose()
			other.expectEndWithoutClose()
		}
	})
}

// TestRelayValidMessageThenBadFrame: the backend's echo of a valid message
// still reaches a client that then broke the protocol, before the client's
// 1002, as if the client talked to the backend directly.
func TestRelayValidMessageThenBadFrame(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		got := make(chan *websocket.CloseError, 1)
		backend := startBackend(t, func(c *websocket.Conn, _ *http.Request) {
			for {
				mt, data, err := c.ReadMessage()
				if err != nil {
					ce, _ := err.(*websocket.CloseError)
					got <- ce
					return
				}
				c.WriteMessage(mt, data)
			}
		})
		cfg := testConfig(backendRoute("/ws", backend.wsURL("/")))
		cfg.Relay = relay
		tp := startProxy(t, cfg, false)
		client := tp.dialRawClient(t, "/ws")
		bad := client.frameBytes(true, wsframe.OpText, []byte("x"))
		bad[0] |= 0x40 // RSV1 without an extension
		client.write(append(client.frameBytes(true, wsframe.OpText, []byte("Hello, world!")), bad...))
		if f := client.readData(); f.h.Op != wsframe.OpText || string(f.payload) != "Hello, world!" {
			t.Fatalf("client got opcode %d %q, want the echo first", f.h.Op, f.payload)
		}
		client.expectClose(wsframe.CloseProtocolError, reasonReservedBits)
		select {
		case ce := <-got:
			if ce == nil || ce.Code != closeClientLost || ce.Text != "client protocol error" {
				t.Errorf("backend got close %v, want %d %q", ce, closeClientLost, "client protocol error")
			}
		case <-time.After(waitLimit):
			t.Fatal("backend got no close")
		}
	})
}

// TestRelaySlowFragments: a sender whose fragments come slowly (longer
// apart than write_timeout) does not get a healthy receiver closed: write
// deadlines count only time spent writing.
func TestRelaySlowFragments(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		const writeTimeout = 100 * time.Millisecond
		client, backend := rawRelay(t, relay, nil, func(c *Config) { c.Limits.WriteTimeout = conftypes.Duration(writeTimeout) })
		client.send(false, wsframe.OpText, []byte("slow "))
		if got := backend.readData(); string(got.payload) != "slow " {
			t.Fatalf("first fragment: %q", got.payload)
		}
		// The sender is silent for several write timeouts: the pause is
		// what the test is about, not a wait for something to happen.
		<-time.After(5 * writeTimeout)
		client.send(true, wsframe.OpContinuation, []byte("sender"))
		if got := backend.readData(); got.h.Op != wsframe.OpContinuation || string(got.payload) != "sender" {
			t.Errorf("second fragment: opcode %d %q, want the continuation (not a close)", got.h.Op, got.payload)
		}
	})
}

// TestRelayMessageLimitOverFragments: max_message_bytes counts a message's
// fragments together: 1009 to the sender, 1001 to the backend.
func TestRelayMessageLimitOverFragments(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		client, backend := rawRelay(t, relay, nil, func(c *Config) { c.Limits.MaxMessageBytes = 1000 })
		client.send(false, wsframe.OpBinary, make([]byte, 600))
		client.send(true, wsframe.OpContinuation, make([]byte, 600))
		if got := backend.readData(); got.h.Length != 600 {
			t.Errorf("first fragment: %d bytes", got.h.Length)
		}
		backend.expectClose(closeClientLost, "client message too big")
		backend.send(true, wsframe.OpClose, closeMsg(closeClientLost, ""))
		client.expectClose(wsframe.CloseMessageTooBig, reasonTooBig)
	})
}

// TestRelayMessageSizes: 0-byte and 16 MiB messages cross intact through
// a real echo backend.
func TestRelayMessageSizes(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		backend := startBackend(t, echoConn)
		cfg := testConfig(backendRoute("/ws", backend.wsURL("/")))
		cfg.Relay = relay
		cfg.Limits.MaxMessageBytes = 32 << 20
		tp := startProxy(t, cfg, false)
		c := tp.mustDial(t, "/ws")
		for _, size := range []int{0, 16 << 20} {
			msg := make([]byte, size)
			rand.Read(msg)
			if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(waitLimit))
			mt, got, err := c.ReadMessage()
			if err != nil || mt != websocket.BinaryMessage || sha256.Sum256(got) != sha256.Sum256(msg) {
				t.Errorf("%d-byte message: type %d, %d bytes back (%v)", size, mt, len(got), err)
			}
		}
	})
}

// TestRelayKeepaliveFrames: wsedge's pings reach the backend masked with a
// fresh key each time, and the client unmasked; a pong answering one is
// consumed, the peers' own pings and pongs cross.
func TestRelayKeepaliveFrames(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		client, backend := rawRelay(t, relay, nil, func(c *Config) {
			c.Keepalive = KeepaliveConfig{PingInterval: conftypes.Duration(20 * time.Millisecond), PongTimeout: conftypes.Duration(time.Second)}
		})
		var keys [][4]byte
		for len(keys) < 3 {
			f := backend.readFrame()
			if f.h.Op != wsframe.OpPing || !f.h.Masked {
				t.Fatalf("backend got opcode %d masked=%v, want a masked ping", f.h.Op, f.h.Masked)
			}
			keys = append(keys, f.h.Key)
			backend.send(true, wsframe.OpPong, f.payload) // answers ours: consumed
		}
		if keys[0] == keys[1] || keys[1] == keys[2] {
			t.Errorf("pings reused a masking key: %x", keys)
		}
		f := client.readFrame()
		if f.h.Op != wsframe.OpPing || f.h.Masked {
			t.Fatalf("client got opcode %d masked=%v, want an unmasked ping", f.h.Op, f.h.Masked)
		}
		client.send(true, wsframe.OpPong, f.payload)
		backend.send(true, wsframe.OpPing, []byte("backend's own"))
		backend.send(true, wsframe.OpText, []byte("after"))
		for {
			f := client.readFrame()
			if f.h.Op == wsframe.OpPong {
				t.Fatalf("the backend's answer to wsedge's ping reached the client")
			}
			if f.h.Op == wsframe.OpPing && string(f.payload) == "backend's own" {
				break
			}
		}
		client.send(true, wsframe.OpPong, []byte("backend's own"))
		for {
			f := backend.readFrame()
			if f.h.Op == wsframe.OpPong && string(f.payload) == "backend's own" {
				break
			}
			if f.h.Op != wsframe.OpPing {
				t.Fatalf("backend got opcode %d %q, want the client's pong", f.h.Op, f.payload)
			}
			backend.send(true, wsframe.OpPong, f.payload)
		}
	})
}

// TestRelayRemask: with relay.remask, client frames reach the backend with
// a new key and the same payload.
func TestRelayRemask(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		relay.Remask = true
		client, backend := rawRelay(t, relay, nil, nil)
		payload := bytes.Repeat([]byte("remask me "), 7000)
		sent := client.frameBytes(true, wsframe.OpBinary, payload)
		client.write(sent)
		got := backend.readFrame()
		if !got.h.Masked || got.h.Key == [4]byte(sent[10:14]) {
			t.Errorf("frame kept the client's key %x", got.h.Key)
		}
		if !bytes.Equal(got.payload, payload) {
			t.Error("payload changed")
		}
	})
}

// TestRelayDeathInsideFrame: a client that dies in the middle of a frame
// leaves the backend a frame it cannot finish, so the backend's connection
// is dropped rather than sent a close frame inside the frame.
func TestRelayDeathInsideFrame(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		client, backend := rawRelay(t, relay, nil, func(c *Config) { c.Limits.MaxMessageBytes = 4 << 20 })
		f := client.frameBytes(true, wsframe.OpBinary, make([]byte, 1<<20))
		const part = 100000
		client.write(f[:part])
		got := make([]byte, part)
		backend.conn.SetReadDeadline(time.Now().Add(waitLimit))
		if _, err := io.ReadFull(backend.r, got); err != nil || !bytes.Equal(got, f[:part]) {
			t.Fatalf("the frame's first part did not cross (%v)", err)
		}
		client.conn.Close()
		rest, err := io.ReadAll(backend.r)
		if len(rest) != 0 || err != nil {
			t.Errorf("after the client died the backend got % x more (%v), want the connection ended with nothing", head(rest), err)
		}
	})
}

// TestRelayBackpressure: a backend that stops reading stops the relay from
// reading its client; what waits in the proxy stays about one read, and
// everything arrives once the backend reads again.
func TestRelayBackpressure(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		b := startRawBackend(t, nil)
		cfg := testConfig(backendRoute("/ws", b.url()))
		cfg.Relay, cfg.Limits.MaxMessageBytes = relay, 0
		tp := startProxy(t, cfg, false)
		client := tp.dialRawClient(t, "/ws")
		backend := b.accept(t)
		// Small socket buffers at both ends, so that 24 MiB is far more
		// than the kernel can hold on the way (see TestRelayTLSHeldBack on
		// why not smaller).
		client.conn.(*net.TCPConn).SetWriteBuffer(128 << 10)
		backend.conn.(*net.TCPConn).SetReadBuffer(128 << 10)
		const total = 24 << 20
		payload := make([]byte, total)
		rand.Read(payload)
		sent := client.frameBytes(true, wsframe.OpBinary, payload)
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		writeDone := make(chan error, 1)
		go func() {
			client.conn.SetWriteDeadline(time.Now().Add(4 * waitLimit))
			_, err := client.conn.Write(sent)
			writeDone <- err
		}()
		// The relay holds the client back once the backend's socket is
		// full; the client's write then stalls in its own socket.
		var pending int
		wstest.Eventually(t, waitLimit, func() bool {
			var held bool
			pending, held = tp.relayBacklog(t)
			return held
		})
		var during runtime.MemStats
		runtime.ReadMemStats(&during)
		select {
		case err := <-writeDone:
			t.Fatalf("24 MiB went through a backend that does not read (%v)", err)
		default:
		}
		if pending > 2*reactor.DefaultBufferSize {
			t.Errorf("%d bytes wait in the relay, want at most about one read", pending)
		}
		if growth := int64(during.HeapInuse) - int64(before.HeapInuse); growth > 16<<20 {
			t.Errorf("heap grew %d MiB while the backend did not read", growth>>20)
		}
		got := backend.readFrame()
		if !bytes.Equal(got.payload, payload) {
			t.Error("24 MiB arrived changed")
		}
		select {
		case err := <-writeDone:
			if err != nil {
				t.Errorf("client write: %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("client write never finished")
		}
	})
}

// TestRelayTLSHeldBack: over TLS, a client leg held back while its
// backend does not read keeps records crypto/tls has read but not
// returned; none is stranded when the backend reads again, and every
// message arrives in order.
func TestRelayTLSHeldBack(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		b := startRawBackend(t, nil)
		cfg := testConfig(backendRoute("/ws", b.url()))
		cfg.Relay = relay
		tp := startProxy(t, cfg, true)
		client := tp.dialRawClientTLS(t, "/ws")
		backend := b.accept(t)
		// A small receive buffer fills sooner; not below two segments
		// of loopback's 64 KiB MSS, or the kernel holds back its window
		// updates and the transfer crawls on 200 ms probes.
		backend.conn.(*net.TCPConn).SetReadBuffer(128 << 10)
		const n = 8000
		msg := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1000+i%1000) }
		var all []byte
		for i := range n {
			all = append(all, client.frameBytes(true, wsframe.OpBinary, msg(i))...)
		}
		sent := make(chan error, 1)
		go func() {
			client.conn.SetWriteDeadline(time.Now().Add(4 * waitLimit))
			_, err := client.conn.Write(all)
			sent <- err
		}()
		wstest.Eventually(t, waitLimit, func() bool {
			_, held := tp.relayBacklog(t)
			return held
		})
		for i := range n {
			if got := backend.readFrame(); !bytes.Equal(got.payload, msg(i)) {
				t.Fatalf("message %d: %d bytes, want %d of %d", i, len(got.payload), len(msg(i)), byte(i))
			}
		}
		select {
		case err := <-sent:
			if err != nil {
				t.Errorf("client write: %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("client write never finished")
		}
	})
}
