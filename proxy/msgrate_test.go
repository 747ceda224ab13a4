package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/wsframe"
	"github.com/wsedge/wsedge/routes"
)

// rateSlack absorbs clock rounding in the lower bounds below: the limiter
// guarantees them to the nanosecond, the test's clock reads are not taken
// at exactly the limiter's instants.
const rateSlack = 20 * time.Millisecond

func withMetrics(d *Deps) { d.Metrics = true }

// servingLeftovers takes the leftovers once the proxy has answered a
// request: its serving goroutines have all started.
func (tp *testProxy) servingLeftovers(t *testing.T) leftovers {
	t.Helper()
	tp.rawRequest(t, "GET /nowhere HTTP/1.1\r\nHost: relay.test\r\n\r\n")
	return takeLeftovers(t)
}

// rateLimited reads wsedge_client_rate_limited_total{route, action}.
func (tp *testProxy) rateLimited(t *testing.T, route, action string) float64 {
	t.Helper()
	return counterValue(t, tp.srv.metrics.rateLimited, route, action)
}

// counterValue reads one counter of vec.
func counterValue(t *testing.T, vec *prometheus.CounterVec, labels ...string) float64 {
	t.Helper()
	var m dto.Metric
	if err := vec.WithLabelValues(labels...).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// recordingBackend sends every message it receives, then the close error
// each connection ended with (nil: none), to the channels it returns;
// gorilla's default close handler answers a close.
func recordingBackend(t *testing.T, capacity int) (*wsBackend, <-chan []byte, <-chan *websocket.CloseError) {
	messages := make(chan []byte, capacity)
	closed := make(chan *websocket.CloseError, 8) // a test's connections
	b := startBackend(t, func(c *websocket.Conn, _ *http.Request) {
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				ce, _ := err.(*websocket.CloseError)
				closed <- ce
				return
			}
			messages <- data
		}
	})
	return b, messages, closed
}

// rateMessage is message i of a test, in order.
func rateMessage(i, size int) []byte {
	m := bytes.Repeat([]byte{'.'}, size)
	copy(m, fmt.Sprintf("%06d", i))
	return m
}

// sendAll writes n messages of size as fast as gorilla goes, on a
// goroutine of its own, and returns when it started and a channel closed
// when it is done (a write that fails ends it: the proxy may be closing).
func sendAll(c *websocket.Conn, n, size int) (time.Time, <-chan struct{}) {
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		for i := range n {
			if c.WriteMessage(websocket.BinaryMessage, rateMessage(i, size)) != nil {
				return
			}
		}
	}()
	return start, done
}

// receiveInOrder takes n messages from got, checking each; it returns
// when the last arrived.
func receiveInOrder(t *testing.T, got <-chan []byte, n, size int) time.Time {
	t.Helper()
	for i := range n {
		select {
		case m := <-got:
			if !bytes.Equal(m, rateMessage(i, size)) {
				t.Fatalf("message %d arrived as %q, want %q", i, head(m), head(rateMessage(i, size)))
			}
		case <-time.After(waitLimit):
			t.Fatalf("message %d of %d never arrived", i, n)
		}
	}
	return time.Now()
}

func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("%s did not finish", what)
	}
}

// TestClientRatePause: a proxied client sending faster than its rate is
// paused, not closed: the backend gets every message intact and in order,
// no sooner than the rate allows after the burst. Messages and bytes,
// each alone.
func TestClientRatePause(t *testing.T) {
	cases := []struct {
		name       string
		rate       conftypes.MessageRate
		n, size    int
		burst, per float64 // the burst and the rate, in messages
	}{
		// 200 messages at 100/s: 100 at once, the other 100 over 1 s.
		{"messages", conftypes.MessageRate{Messages: 100}, 200, 16, 100, 100},
		// 64 KiB at 32 KiB/s in 1 KiB messages: 32 at once, 32 over 1 s.
		{"bytes", conftypes.MessageRate{Bytes: 32 << 10, OnExceed: conftypes.OnExceedPause}, 64, 1 << 10, 32, 32},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachRelay(t, func(t *testing.T, relay RelayConfig) {
				backend, got, closed := recordingBackend(t, tc.n+1)
				cfg := testConfig(backendRoute("/ws", backend.wsURL("/")))
				cfg.Relay = relay
				cfg.Limits.ClientMessageRate = tc.rate
				tp := startProxy(t, cfg, false, withMetrics)
				c := tp.mustDial(t, "/ws")

				start, sent := sendAll(c, tc.n, tc.size)
				last := receiveInOrder(t, got, tc.n, tc.size)
				waitDone(t, sent, "sending")
				least := time.Duration((float64(tc.n) - tc.burst) / tc.per * float64(time.Second))
				if elapsed := last.Sub(start); elapsed < least-rateSlack {
					t.Errorf("%d messages passed in %v, want at least %v at the rate", tc.n, elapsed, least)
				}
				if p := tp.rateLimited(t, "/ws", "paused"); p < 1 {
					t.Errorf("paused counter %v, want at least 1", p)
				}
				if p := tp.rateLimited(t, "/ws", "closed"); p != 0 {
					t.Errorf("closed counter %v, want 0", p)
				}
				// Still open both ways.
				if err := c.WriteMessage(websocket.TextMessage, []byte("still open")); err != nil {
					t.Fatal(err)
				}
				select {
				case m := <-got:
					if string(m) != "still open" {
						t.Errorf("after the pause the backend got %q", head(m))
					}
				case ce := <-closed:
					t.Fatalf("backend closed: %v", ce)
				case <-time.After(waitLimit):
					t.Fatal("the connection stopped relaying after the pause")
				}
				c.Close()
				tp.log.waitFor(t, "websocket closed", func(a map[string]string) bool {
					return a["client_paused"] != "" && a["client_paused"] != "0"
				})
			})
		})
	}
}

// TestClientRateClose: with on_exceed close, a proxied client over its
// rate gets 1008; the backend gets the messages within the budget, in
// order, then 1001, as for a client that broke the protocol; the message
// that broke the limit is not forwarded, and nothing is left behind.
func TestClientRateClose(t *testing.T) {
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		const n, burst, perSecond = 50, 5, 5.0
		backend, got, closed := recordingBackend(t, n)
		cfg := testConfig(backendRoute("/ws", backend.wsURL("/")))
		cfg.Relay = relay
		cfg.Limits.ClientMessageRate = conftypes.MessageRate{Messages: perSecond, OnExceed: conftypes.OnExceedClose}
		tp := startProxy(t, cfg, false, withMetrics)
		before := tp.servingLeftovers(t)
		c := tp.mustDial(t, "/ws")

		start, sent := sendAll(c, n, 16)
		if ce := readClose(t, c); ce.Code != wsframe.ClosePolicyViolation || ce.Text != reasonRate {
			t.Errorf("client got close %d %q, want %d %q", ce.Code, ce.Text, wsframe.ClosePolicyViolation, reasonRate)
		}
		var backendClose *websocket.CloseError
		select {
		case backendClose = <-closed:
		case <-time.After(waitLimit):
			t.Fatal("backend got no close")
		}
		elapsed := time.Since(start)
		if backendClose == nil || backendClose.Code != closeClientLost || backendClose.Text != "client "+reasonRate {
			t.Errorf("backend got close %v, want %d %q", backendClose, closeClientLost, "client "+reasonRate)
		}
		// The burst passes at once; one more message per 1/5 s at most.
		most := burst + int(elapsed.Seconds()*perSecond) + 1
		received := len(got)
		if received < burst || received > most {
			t.Errorf("backend got %d messages, want %d to %d", received, burst, most)
		}
		for i := range received {
			if m := <-got; !bytes.Equal(m, rateMessage(i, 16)) {
				t.Errorf("message %d arrived as %q", i, head(m))
			}
		}
		waitDone(t, sent, "sending")
		c.Close()
		tp.log.waitFor(t, "websocket closed", func(a map[string]string) bool {
			return a["cause"] == "client "+reasonRate && a["client_close"] != ""
		})
		tp.log.waitFor(t, "websocket client over its message rate: closing with 1008", nil)
		if p := tp.rateLimited(t, "/ws", "closed"); p != 1 {
			t.Errorf("closed counter %v, want 1", p)
		}
		before.expectNone(t)
	})
}

// TestClientRatePauseKeepsKeepalive: a client paused for longer than many
// pong timeouts, whose pongs wait unread behind what it sent, is not
// taken for dead: pings go on, every message is echoed, nothing closes.
// Were a pause taken for silence, the first verdict would drop it. A
// proxied client on either relay, and a built-in handler's.
func TestClientRatePauseKeepsKeepalive(t *testing.T) {
	backend := startBackend(t, echoConn)
	config := func(relay RelayConfig) Config {
		cfg := fastKeepalive(testConfig(backendRoute("/ws", backend.wsURL("/")), handlerRoute("/echo", "echo")))
		cfg.Relay = relay
		cfg.Limits.ClientMessageRate = conftypes.MessageRate{Messages: 100}
		return cfg
	}
	eachRelay(t, func(t *testing.T, relay RelayConfig) {
		pausedWithKeepalive(t, startProxy(t, config(relay), false), "/ws")
	})
	t.Run("builtin", func(t *testing.T) {
		pausedWithKeepalive(t, startProxy(t, config(RelayConfig{}), false), "/echo")
	})
}

// pausedWithKeepalive sends 250 messages at 100 a second (a 1.5 s pause)
// on an echo route, answering pings as gorilla does.
func pausedWithKeepalive(t *testing.T, tp *testProxy, path string) {
	const n, size = 250, 16
	c := tp.mustDial(t, path)
	var pings atomic.Int32
	answer := c.PingHandler()
	c.SetPingHandler(func(s string) error {
		pings.Add(1)
		return answer(s) // gorilla's pong, which waits behind the messages
	})
	echoes := make(chan []byte, n)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			echoes <- data
		}
	}()
	_, sent := sendAll(c, n, size)
	for i := range n {
		select {
		case m := <-echoes:
			if !bytes.Equal(m, rateMessage(i, size)) {
				t.Fatalf("echo %d: %q", i, head(m))
			}
		case err := <-readErr:
			t.Fatalf("connection ended after %d echoes: %v", i, err)
		case <-time.After(waitLimit):
			t.Fatalf("echo %d never came", i)
		}
	}
	waitDone(t, sent, "sending")
	if p := pings.Load(); p < 10 {
		t.Errorf("got %d pings over the pause, so the test proved nothing", p)
	}
}

// TestClientRateBuiltin: a built-in handler's client is kept to its rate
// too: paused, every message is echoed, no sooner than the rate allows;
// closed, it gets 1008 and the message that broke the limit is not echoed.
func TestClientRateBuiltin(t *testing.T) {
	t.Run("pause", func(t *testing.T) {
		const n, size = 200, 16
		cfg := testConfig(handlerRoute("/echo", "echo"))
		cfg.Limits.ClientMessageRate = conftypes.MessageRate{Messages: 100}
		tp := startProxy(t, cfg, false, withMetrics)
		c := tp.mustDial(t, "/echo")
		echoes := make(chan []byte, n)
		go func() {
			for {
				_, data, err := c.ReadMessage()
				if err != nil {
					close(echoes)
					return
				}
				echoes <- data
			}
		}()
		start, sent := sendAll(c, n, size)
		last := receiveInOrder(t, echoes, n, size)
		waitDone(t, sent, "sending")
		if elapsed, least := last.Sub(start), time.Second; elapsed < least-rateSlack {
			t.Errorf("%d echoes in %v, want at least %v at the rate", n, elapsed, least)
		}
		if p := tp.rateLimited(t, "/echo", "paused"); p < 1 {
			t.Errorf("paused counter %v, want at least 1", p)
		}
		c.Close()
		tp.log.waitFor(t, "websocket closed", func(a map[string]string) bool {
			return a["client_paused"] != "" && a["client_paused"] != "0"
		})
	})
	t.Run("close", func(t *testing.T) {
		const n, burst, perSecond = 50, 5, 5.0
		cfg := testConfig(handlerRoute("/echo", "echo"))
		cfg.Limits.ClientMessageRate = conftypes.MessageRate{Messages: perSecond, OnExceed: conftypes.OnExceedClose}
		tp := startProxy(t, cfg, false, withMetrics)
		before := tp.servingLeftovers(t)
		c := tp.mustDial(t, "/echo")
		start, sent := sendAll(c, n, 16)
		c.SetReadDeadline(time.Now().Add(waitLimit))
		echoed := 0
		for {
			_, data, err := c.ReadMessage()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				if ce.Code != wsframe.ClosePolicyViolation || ce.Text != reasonRate {
					t.Errorf("client got close %d %q, want %d %q", ce.Code, ce.Text, wsframe.ClosePolicyViolation, reasonRate)
				}
				break
			}
			if err != nil {
				t.Fatalf("after %d echoes: %v, want a close frame", echoed, err)
			}
			if !bytes.Equal(data, rateMessage(echoed, 16)) {
				t.Errorf("echo %d: %q", echoed, head(data))
			}
			echoed++
		}
		most := burst + int(time.Since(start).Seconds()*perSecond) + 1
		if echoed < burst || echoed > most {
			t.Errorf("%d messages echoed, want %d to %d", echoed, burst, most)
		}
		waitDone(t, sent, "sending")
		c.Close()
		tp.log.waitFor(t, "websocket closed", func(a map[string]string) bool { return a["cause"] == "client "+reasonRate })
		if p := tp.rateLimited(t, "/echo", "closed"); p != 1 {
			t.Errorf("closed counter %v, want 1", p)
		}
		before.expectNone(t)
	})
}

// TestClientRatePerRoute: a route's own client_message_rate replaces the
// top-level one; the other routes keep the top-level one.
func TestClientRatePerRoute(t *testing.T) {
	const n = 50
	backend, got, closed := recordingBackend(t, 2*n)
	own := backendRoute("/own", backend.wsURL("/"))
	own.Limits = routes.Limits{ClientMessageRate: &conftypes.MessageRate{Messages: 1000}}
	cfg := testConfig(backendRoute("/ws", backend.wsURL("/")), own)
	cfg.Limits.ClientMessageRate = conftypes.MessageRate{Messages: 5, OnExceed: conftypes.OnExceedClose}
	tp := startProxy(t, cfg, false)

	c := tp.mustDial(t, "/own")
	_, sent := sendAll(c, n, 16)
	receiveInOrder(t, got, n, 16)
	waitDone(t, sent, "sending on /own")
	select {
	case ce := <-closed:
		t.Fatalf("/own, under its own rate, was closed: %v", ce)
	default:
	}

	c = tp.mustDial(t, "/ws")
	_, sent = sendAll(c, n, 16)
	if ce := readClose(t, c); ce.Code != wsframe.ClosePolicyViolation {
		t.Errorf("/ws, over the top-level rate: close %d %q, want %d", ce.Code, ce.Text, wsframe.ClosePolicyViolation)
	}
	waitDone(t, sent, "sending on /ws")
}

// TestMessageBudget: the GCRA arithmetic, frame by frame.
func TestMessageBudget(t *testing.T) {
	const s = int64(time.Second)
	type step struct {
		at      int64 // seconds/100 from the start
		first   bool
		payload uint64
		want    bool
		resume  int64 // seconds/100, when want is false
	}
	cases := []struct {
		name  string
		rate  conftypes.MessageRate
		steps []step
	}{
		{"burst then rate", conftypes.MessageRate{Messages: 2}, []step{
			{0, true, 0, true, 0}, {0, true, 0, true, 0}, {0, true, 0, false, 50},
			{50, true, 0, true, 0}, {50, true, 0, false, 100},
			{100, false, 9, true, 0}, // a continuation costs no message
		}},
		{"bytes", conftypes.MessageRate{Bytes: 100}, []step{
			{0, true, 60, true, 0}, {0, true, 40, true, 0}, {0, true, 1, false, 1},
			{10, true, 10, true, 0}, {10, true, 1, false, 11},
		}},
		{"frame over a second's worth waits for a full budget", conftypes.MessageRate{Bytes: 100}, []step{
			{0, true, 50, true, 0}, {0, true, 500, false, 50},
			{50, true, 500, true, 0}, // in debt for 4 s after
			{300, true, 1, false, 451},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newMessageBudget(&tc.rate)
			const t0 = 1000 * s
			for i, st := range tc.steps {
				b.now = t0 + st.at*s/100
				if got := b.admit(st.first, st.payload); got != st.want {
					t.Fatalf("step %d: admit %v, want %v", i, got, st.want)
				}
				if !st.want {
					if want := t0 + st.resume*s/100; b.resumeAt != want {
						t.Errorf("step %d: resume at %v, want %v", i, time.Duration(b.resumeAt-t0), time.Duration(want-t0))
					}
				}
			}
		})
	}
	if newMessageBudget(&conftypes.MessageRate{OnExceed: conftypes.OnExceedClose}) != nil {
		t.Error("a rate bounding nothing made a budget")
	}
}

// TestFrameCounterPass: with a budget, the frame counter stops at the
// header of the first data frame that does not fit, wherever the stream
// is cut, and the rest passes once fed again when it fits.
func TestFrameCounterPass(t *testing.T) {
	var stream []byte
	var starts []int
	frame := func(fin bool, op wsframe.Opcode, n int) {
		starts = append(starts, len(stream))
		h := wsframe.Header{Fin: fin, Op: op, Masked: true, Key: [4]byte{1, 2, 3, 4}, Length: uint64(n)}
		var hdr [wsframe.MaxHeaderLen]byte
		stream = append(stream, hdr[:h.Put(hdr[:])]...)
		stream = append(stream, make([]byte, n)...)
	}
	frame(true, wsframe.OpText, 5)     // message 1
	frame(true, wsframe.OpPing, 3)     // control: always passes
	frame(false, wsframe.OpBinary, 70) // message 2 begins
	frame(true, wsframe.OpContinuation, 300)
	frame(true, wsframe.OpText, 0) // message 3: over the budget of 2
	const headerLen = 6            // message 3's: masked, no payload
	for _, cut := range []int{1, 2, 3, 7, 100, len(stream)} {
		f := frameCounter{rate: newMessageBudget(&conftypes.MessageRate{Messages: 2})}
		f.rate.now = int64(time.Hour)
		passed, messages := 0, int64(0)
		for passed < len(stream) {
			chunk := stream[passed:min(passed+cut, len(stream))]
			k, m := f.pass(chunk)
			passed += k
			messages += m
			if k < len(chunk) {
				break
			}
		}
		// A cut inside message 3's header passes its first bytes (they
		// wait in gorilla for the rest); the counter keeps them.
		if passed < starts[4] || passed >= starts[4]+headerLen || messages != 2 {
			t.Errorf("fed %d bytes at a time: stopped at %d with %d messages, want at %d (its header) with 2", cut, passed, messages, starts[4])
		}
		f.rate.now += int64(time.Second)
		k, m := f.pass(stream[passed:])
		if k != len(stream)-passed || m != 1 || f.headLen != 0 || f.left != 0 {
			t.Errorf("fed %d bytes at a time: once it fits, %d of %d bytes passed with %d messages", cut, k, len(stream)-passed, m)
		}
	}
}

// BenchmarkPumpRated is BenchmarkPump's client-to-backend case (the
// direction a rate applies to) with a client_message_rate set: "unpaused"
// never runs out (the cost of judging each frame: compare its ns/op with
// BenchmarkPump's), "paused" runs out for most of the run (the cost of
// holding and resuming: its ns/op is the rate's). The same raw peers and
// pre-built frames, so allocs/op is the proxy's per message.
func BenchmarkPumpRated(b *testing.B) {
	for _, tc := range []struct {
		name string
		rate conftypes.MessageRate
	}{
		{"unpaused", conftypes.MessageRate{Messages: 1e9, Bytes: 1 << 40}},
		// 64 B: 200,000 messages a second bind; 16 KiB: 256 MiB a second.
		{"paused", conftypes.MessageRate{Messages: 200000, Bytes: 256 << 20}},
	} {
		for _, size := range []int{64, 16 << 10} {
			b.Run(fmt.Sprintf("%s/%dB", tc.name, size), func(b *testing.B) {
				benchForward(b, size, true, tc.rate)
			})
		}
	}
}
