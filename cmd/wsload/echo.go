// Echo mode: every connection sends messages and checks the echoes.
//
// Each connection has a writer and a reader goroutine (gorilla allows one
// of each). The writer takes a credit before each message and the reader
// returns one for each echo, so at most -window messages are in flight;
// -rate additionally paces the writer. The reader verifies each echo
// (message.go), checks its sequence number and records its round-trip
// time from the send time the message carries.
//
// The run opens all connections first, then starts every writer at once:
// the measured phase is -duration of full load, not of a ramp. After it,
// writers stop and each connection waits up to -drain for its outstanding
// echoes; whatever has not come back by then is lost.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// errWrongConn marks an intact echo that carries another connection's id:
// it was delivered to the wrong client.
var errWrongConn = errors.New("echo of another connection")

// echoRun is the state of an echo-mode run.
type echoRun struct {
	env   *runEnv
	codec *codec
	fleet *fleet

	mu    sync.Mutex  // guards conns, which grows while connections open
	conns []*echoConn // read by progress lines and the summary
}

// runEcho runs echo mode and summarises it.
func runEcho(ctx context.Context, env *runEnv) (summary, error) {
	c, err := newCodec(env.opts.size, env.opts.text)
	if err != nil {
		return summary{}, fmt.Errorf("echo mode: %w", err)
	}
	r := &echoRun{env: env, codec: c, fleet: newFleet(env)}
	stopProgress := startProgress(env, r.progress)
	defer stopProgress()

	phase, endPhase := context.WithCancel(ctx)
	defer endPhase()
	start := make(chan struct{})
	r.fleet.open(ctx, func(lc *liveConn) { r.newConn(lc).run(phase, start) })
	close(start)
	end := phaseEnd{measured: env.holdPhase(phase, r.fleet.opened.Load() > 0)}
	end.totals = r.totals()
	end.open = r.fleet.live.Load()
	endPhase()
	r.fleet.wait()
	return r.summary(end), nil
}

// phaseEnd is the state of an echo run when its measured phase ended.
type phaseEnd struct {
	measured time.Duration
	totals   echoTotals // for the rates: echoes that came back in time
	open     int64      // connections still open
}

// newConn sets up and registers the echo state of a new connection.
func (r *echoRun) newConn(lc *liveConn) *echoConn {
	o := r.env.opts
	c := &echoConn{
		liveConn:  lc,
		codec:     r.codec,
		clock:     r.env.clock,
		drain:     o.drain,
		credits:   make(chan struct{}, o.window),
		allEchoed: make(chan struct{}),
	}
	for range o.window {
		c.credits <- struct{}{}
	}
	if o.rate > 0 {
		c.interval = time.Duration(float64(time.Second) / o.rate)
		// Spread the connections' sends over one interval, so that they
		// do not all fire at the same instant.
		c.stagger = time.Duration(float64(c.interval) * float64(lc.id) / float64(o.connections))
	}
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
	return c
}

// connList returns the connections registered so far.
func (r *echoRun) connList() []*echoConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns
}

// echoTotals adds up the counters of all connections.
type echoTotals struct {
	sent, received, corrupted, reordered, lost uint64
}

func (r *echoRun) totals() echoTotals {
	var t echoTotals
	for _, c := range r.connList() {
		sent, received, corrupted := c.sent.Load(), c.received.Load(), c.corrupted.Load()
		t.sent += sent
		t.received += received
		t.corrupted += corrupted
		t.reordered += c.reordered.Load()
		if answered := received + corrupted; answered < sent {
			t.lost += sent - answered
		}
	}
	return t
}

// latency merges the round-trip histograms of all connections.
func (r *echoRun) latency() *histogram {
	var h histogram
	for _, c := range r.connList() {
		h.merge(&c.latency)
	}
	return &h
}

func (r *echoRun) progress() progressSample {
	return progressSample{
		open:     r.fleet.live.Load(),
		messages: r.totals().received,
		errors:   r.env.errs.total(),
		latency:  r.latency(),
	}
}

// summary reports the run. Rates count the echoes received during the
// measured phase; the totals include those that arrived while draining.
func (r *echoRun) summary(end phaseEnd) summary {
	t := r.totals()
	s := summary{
		MessagesSent:     t.sent,
		MessagesReceived: t.received,
		MessagesMeasured: end.totals.received,
		Lost:             t.lost,
		Corrupted:        t.corrupted,
		Reordered:        t.reordered,
		LatencyUS:        latencyOf(r.latency()),
		ConnsOpened:      r.fleet.opened.Load(),
		ConnsFailed:      r.fleet.failed.Load(),
		ConnsOpenAtEnd:   end.open,
	}
	s.setMeasured(end.measured)
	if secs := end.measured.Seconds(); secs > 0 {
		s.MsgsPerSec = float64(end.totals.received) / secs
		s.MBPerSec = float64(end.totals.received) * float64(r.codec.size) / secs / 1e6
	}
	return s
}

// echoConn is one echo-mode connection.
type echoConn struct {
	*liveConn
	codec    *codec
	clock    runClock
	drain    time.Duration
	interval time.Duration // between sends with -rate; 0 = unpaced
	stagger  time.Duration // delay of this connection's first paced send

	// credits holds one token per message that may still be sent before
	// an echo comes back: the -window.
	credits chan struct{}
	latency histogram // written by the reader only

	sent, received, corrupted, reordered atomic.Uint64

	// writerStopped is set once the writer has returned, so sent is final
	// and the reader can tell when the last echo has arrived.
	writerStopped atomic.Bool
	allEchoed     chan struct{}
	allEchoedOnce sync.Once

	nextSeq uint64 // reader-owned: the sequence number expected next
}

// run is the connection's session: read from the start, write from the
// start of the measured phase until its end, drain, close. It returns only
// after the reader and the writer have.
func (c *echoConn) run(phase context.Context, start <-chan struct{}) {
	c.startReader(c.readEchoes)
	select {
	case <-start:
	case <-c.readerDone: // dropped before the measured phase
		c.closeNow()
		return
	}
	writerCtx, stopWriter := context.WithCancel(phase)
	defer stopWriter()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeMessages(writerCtx)
	}()

	select {
	case <-phase.Done():
	case <-writerDone:
	case <-c.readerDone:
	}
	stopWriter()
	if c.drainEchoes(writerDone) {
		c.closeGracefully()
	} else {
		c.closeNow()
	}
	<-writerDone
}

// drainEchoes waits, at most -drain, for the writer to return and then for
// the echoes of everything it sent. It reports whether the writer
// returned; if not, it is blocked on a socket the server no longer reads
// and only closing the connection will free it.
func (c *echoConn) drainEchoes(writerDone <-chan struct{}) bool {
	timer := time.NewTimer(c.drain)
	defer timer.Stop()
	select {
	case <-writerDone:
	case <-timer.C:
		return false
	}
	c.writerStopped.Store(true)
	c.checkAllEchoed()
	select {
	case <-c.allEchoed:
	case <-c.readerDone:
	case <-timer.C:
	}
	return true
}

// writeMessages is the writer goroutine: it sends numbered messages while
// it has credit, paced by -rate, until ctx ends or a write fails. The
// message buffer is reused, so sending does not allocate.
func (c *echoConn) writeMessages(ctx context.Context) {
	var tick <-chan time.Time
	if c.interval > 0 {
		if !sleepCtx(ctx, c.stagger) {
			return
		}
		// A ticker rather than a computed schedule: when the connection
		// falls behind (window full, slow server), missed sends are
		// dropped rather than burst out later.
		ticker := time.NewTicker(c.interval)
		defer ticker.Stop()
		tick = ticker.C
	}
	buf := make([]byte, c.codec.size)
	msgType := c.codec.messageType()
	for seq := uint64(0); ; seq++ {
		if tick != nil {
			select {
			case <-ctx.Done():
				return
			case <-tick:
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-c.credits:
		}
		c.codec.encode(buf, header{seq: seq, sent: c.clock.now(), connID: c.id})
		if err := c.ws.WriteMessage(msgType, buf); err != nil {
			c.recordUnlessClosing(fmt.Errorf("write: %w", err))
			return
		}
		c.sent.Add(1)
	}
}

// readEchoes is the reader goroutine: it reads and checks echoes until
// the connection ends. The receive buffer is reused; it has one spare
// byte so that an echo longer than sent is noticed.
func (c *echoConn) readEchoes() error {
	buf := make([]byte, c.codec.size+1)
	for {
		msgType, r, err := c.ws.NextReader()
		if err != nil {
			return err
		}
		n, err := readUpTo(r, buf)
		if err != nil {
			return err
		}
		c.check(msgType, buf[:n])
	}
}

// readUpTo reads a message into buf and returns its length, or len(buf)
// if it is longer (the rest is skipped by the next NextReader). Only a
// failure of the connection is an error.
func readUpTo(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return n, nil // the message ended before buf was full
	}
	return n, err
}

// check verifies one echo, records its latency and updates the counters.
func (c *echoConn) check(msgType int, msg []byte) {
	h, err := c.codec.decode(msgType, msg)
	if err == nil && h.connID != c.id {
		err = errWrongConn
	}
	if err != nil {
		c.corrupted.Add(1)
		// A corrupted echo's sequence number cannot be trusted: assume it
		// took the expected one, so that the next intact echo is not also
		// counted as reordered.
		c.nextSeq++
	} else {
		c.latency.record(c.clock.now() - h.sent)
		if h.seq != c.nextSeq {
			// Lower: a duplicate or a late echo. Higher: a gap.
			c.reordered.Add(1)
		}
		c.nextSeq = max(c.nextSeq, h.seq+1)
		c.received.Add(1)
	}
	c.returnCredit()
	if c.writerStopped.Load() {
		c.checkAllEchoed()
	}
}

// returnCredit lets the writer send one more message. A duplicate echo
// would return a credit never taken; the channel is full then, and the
// extra credit is dropped so the window never grows.
func (c *echoConn) returnCredit() {
	select {
	case c.credits <- struct{}{}:
	default:
	}
}

// checkAllEchoed signals allEchoed once every message sent has been
// answered. Both the session (after the writer stops) and the reader
// (after each echo) call it, so the last echo is noticed whichever of the
// two events comes last.
func (c *echoConn) checkAllEchoed() {
	if c.received.Load()+c.corrupted.Load() >= c.sent.Load() {
		c.allEchoedOnce.Do(func() { close(c.allEchoed) })
	}
}
