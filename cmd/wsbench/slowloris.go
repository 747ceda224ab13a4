// wsbench slowloris: what half-open handshakes cost wsedge, and whether a
// client that keeps connecting still gets through quickly while they are
// held (issue 10). It is what bench/slowloris runs.
//
// wsedge runs alone with its built-in echo route and its default limits:
// handshake_timeout (10 s) is what cuts a half-open connection. The
// attacker, goroutines in this process, holds n connections half-open at
// all times as a real slowloris does: each sends the start of a WebSocket
// upgrade request (or, in the second TLS variant, of a ClientHello),
// trickles one more byte every few seconds and never finishes; when wsedge
// cuts it, it is reopened at once. A probe meanwhile opens a complete
// WebSocket connection, sends a message, reads its echo and closes, at a
// fixed rate, and times each opening handshake (TCP connect, TLS, upgrade
// until the 101). The probe runs before the attack too, as a baseline in
// the same run.
//
// Each attack runs against a freshly started wsedge, whose RSS,
// descriptors and runtime figures are read before the attack and at the
// plateau, while the n half-open connections are held. Timing is reported,
// never judged: the exit status is 1 only if the attack could not be held
// or the probe never got through.

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// wsedgeHandshakeTimeout is wsedge's default limits.handshake_timeout,
	// which the configuration leaves alone: it cuts half-open connections.
	wsedgeHandshakeTimeout = 10 * time.Second
	// trickleInterval is how often a half-open connection sends one more
	// byte, as slowloris does to look alive.
	trickleInterval = 3 * time.Second
	// probeTimeout bounds each step of one probe connection.
	probeTimeout = 5 * time.Second
	// reopenPause is how long an attacker's slot waits after an open
	// failed, so that a refusing server does not make it a busy loop.
	reopenPause = 10 * time.Millisecond
	// heldShare is the share of n the attack must hold on average in the
	// measured phase for the run to count.
	heldShare = 0.95
	// probeMessage is what each probe sends and expects back.
	probeMessage = "slowloris probe"
)

// The attacks: what a half-open connection sends before it stalls.
const (
	attackHTTP     = "http"      // plain TCP, a partial upgrade request
	attackTLSHTTP  = "tls+http"  // a complete TLS handshake, then the same
	attackTLSHello = "tls-hello" // the first bytes of a ClientHello record
)

// slowlorisOptions are the flags of wsbench slowloris.
type slowlorisOptions struct {
	plain     bool
	n         int
	duration  time.Duration // the measured phase, with n held
	baseline  time.Duration // the probe alone, before the attack
	ramp      time.Duration // over which the n connections are first opened
	probeRate float64       // probe connections per second; 0: back to back
	dir       string
	keep      bool
	// handshakeTimeout, if not 0, sets wsedge's handshake_timeout (and a
	// dial_timeout within it); tests shorten it to see cuts quickly.
	handshakeTimeout time.Duration
}

func parseSlowlorisFlags(args []string) (slowlorisOptions, error) {
	var o slowlorisOptions
	fs := flag.NewFlagSet("wsbench slowloris", flag.ContinueOnError)
	fs.BoolVar(&o.plain, "plain", false, "attack and probe the ws:// listener instead of wss:// (TLS runs two attacks: "+attackTLSHTTP+" and "+attackTLSHello+")")
	fs.IntVar(&o.n, "n", 5000, "half-open connections to hold")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "measured phase, once the n connections are held")
	fs.DurationVar(&o.baseline, "baseline", 5*time.Second, "probe alone before each attack")
	fs.DurationVar(&o.ramp, "ramp", wsedgeHandshakeTimeout, "time over which the n connections are first opened (one handshake_timeout spreads their cuts evenly)")
	fs.Float64Var(&o.probeRate, "probe-rate", 50, "probe connections per `second`, one at a time; 0: back to back")
	fs.StringVar(&o.dir, "dir", "", "working directory for binaries, configs and logs (default: a new temporary one)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.n < 1:
		return o, fmt.Errorf("-n %d: must be at least 1", o.n)
	case o.duration <= 0 || o.baseline <= 0:
		return o, errors.New("-duration and -baseline must be positive")
	case o.ramp < 0 || o.probeRate < 0:
		return o, errors.New("-ramp and -probe-rate must not be negative")
	}
	return o, nil
}

// attacks are the attacks a run makes, one after the other.
func (o slowlorisOptions) attacks() []string {
	if o.plain {
		return []string{attackHTTP}
	}
	return []string{attackTLSHTTP, attackTLSHello}
}

// runSlowloris is the slowloris subcommand; it returns the exit status.
func runSlowloris(args []string) int {
	o, err := parseSlowlorisFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench slowloris:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &slowloris{opts: o}
	defer s.close()
	if err := s.start(); err != nil {
		fmt.Fprintln(os.Stderr, "wsbench slowloris:", err)
		return 1
	}
	runs, err := s.run(ctx)
	fmt.Print(s.report(runs))
	failed := slowlorisFailures(runs, o.n)
	for _, f := range failed {
		fmt.Fprintln(os.Stderr, "wsbench slowloris:", f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench slowloris:", err)
		return 1
	}
	if len(failed) > 0 {
		return 1
	}
	return 0
}

// slowloris is one slowloris session.
type slowloris struct {
	opts      slowlorisOptions
	dir       string
	wsedge    *target
	debug     *debugClient
	adminURL  string
	attackTo  string // host:port of the listener under attack
	probeURL  string // the echo route on that listener
	tlsConfig *tls.Config
}

// start builds wsedge, starts it and checks that both it and this
// process may open enough descriptors.
func (s *slowloris) start() error {
	if err := checkOwnFileLimit(s.opts.n); err != nil {
		return err
	}
	dir, err := workDir(s.opts.dir)
	if err != nil {
		return err
	}
	s.dir = dir
	fmt.Fprintf(os.Stderr, "wsbench slowloris: working in %s\n", s.dir)
	wsedgeBin, _, err := buildBinaries(s.dir) // wsload is not used here
	if err != nil {
		return err
	}
	cert, err := writeCertificate(s.dir)
	if err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	adminAddr := fmt.Sprintf("127.0.0.1:%d", ports[2])
	config := slowlorisConfig(ports[0], ports[1], cert, s.opts.handshakeTimeout) + profilesConfig(adminAddr)
	if s.wsedge, err = startWsedge(s.dir, wsedgeBin, config, ports[0], ports[1]); err != nil {
		return err
	}
	s.debug, s.adminURL = newDebugClient(adminAddr), "http://"+adminAddr
	port, scheme := ports[1], "wss"
	if s.opts.plain {
		port, scheme = ports[0], "ws"
	}
	s.attackTo = fmt.Sprintf("127.0.0.1:%d", port)
	s.probeURL = fmt.Sprintf("%s://%s/echo", scheme, s.attackTo)
	// Like wsbench's other clients: X25519 (README row 5), no session
	// resumption, so every connection is a full handshake.
	s.tlsConfig = &tls.Config{InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{tls.X25519}}
	if err := s.waitReady(); err != nil {
		return err
	}
	return s.checkWsedgeFileLimit()
}

// slowlorisConfig is wsedge with only its built-in echo route on /echo,
// plain and TLS, and its default limits unless handshakeTimeout is set.
func slowlorisConfig(plainPort, tlsPort int, cert certFiles, handshakeTimeout time.Duration) string {
	c := wsedgeListeners(plainPort, tlsPort, cert) + `routes:
  - path: /echo
    handler: echo
`
	if handshakeTimeout > 0 {
		c += fmt.Sprintf("limits:\n  handshake_timeout: %v\n  dial_timeout: %v\n", handshakeTimeout, handshakeTimeout)
	}
	return c
}

// waitReady waits for wsedge's listeners: plain, TLS and admin.
func (s *slowloris) waitReady() error {
	for _, u := range []string{s.wsedge.plainURL, s.wsedge.tlsURL, s.adminURL} {
		if err := waitListening(u); err != nil {
			return err
		}
	}
	return nil
}

// checkOwnFileLimit fails unless this process may hold n attacking
// sockets, the probe's and a margin (Go has raised the soft limit to the
// hard one already).
func checkOwnFileLimit(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("open-file limit: %w", err)
	}
	if need := uint64(n + fdMargin); lim.Cur < need {
		return fmt.Errorf("open-file limit %d is too low for -n %d: it needs %d (raise ulimit -n; bench/slowloris raises it to the hard limit, %d)",
			lim.Cur, n, need, lim.Max)
	}
	return nil
}

// checkWsedgeFileLimit fails unless wsedge may hold n half-open
// connections besides what it holds already and a margin.
func (s *slowloris) checkWsedgeFileLimit() error {
	p := s.wsedge.proc
	limit, err := hardFileLimit(p.cmd.Process.Pid)
	if err != nil {
		return err
	}
	if need := p.openFiles() + s.opts.n + fdMargin; limit < need {
		return fmt.Errorf("wsedge's open-file limit %d is too low for -n %d: it needs %d (raise ulimit -n)", limit, s.opts.n, need)
	}
	return nil
}

// close stops wsedge and removes a temporary working directory.
func (s *slowloris) close() {
	if s.wsedge != nil {
		s.wsedge.proc.stop()
	}
	if !s.opts.keep && s.opts.dir == "" && s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// attackRun is what one attack found.
type attackRun struct {
	attack         string
	before         *phase // the probe alone
	opening        *phase // the attack opening its connections
	held           *phase // n held: the measured phase
	base, plateau  idleFigures
	attackerErrors []string // samples of the attacker's failed opens
}

// phase is one window of an attack run.
type phase struct {
	name       string
	start, end time.Time
	steal      float64       // percent of the machine's CPU time
	wsedgeCPU  time.Duration // wsedge's user + system time
	ownCPU     time.Duration // this process's: the attacker's and the probe's
	held       heldStats     // zero before the attack
	cuts       int64         // half-open connections wsedge cut (each reopened)
	openErrs   int64         // attacker opens that failed
	probe      probeStats    // filled in from the samples at the end
}

// run makes each attack in turn, each against a fresh wsedge.
func (s *slowloris) run(ctx context.Context) ([]*attackRun, error) {
	var runs []*attackRun
	for i, attack := range s.opts.attacks() {
		if i > 0 {
			if err := s.wsedge.proc.restart(s.wsedge.plainURL); err != nil {
				return runs, fmt.Errorf("restart wsedge: %w", err)
			}
			if err := s.waitReady(); err != nil {
				return runs, err
			}
		}
		r, err := s.attack(ctx, attack)
		runs = append(runs, r)
		if err != nil {
			return runs, fmt.Errorf("%s: %w", attack, err)
		}
	}
	return runs, nil
}

// attack runs the probe alone, then with the attack opening its
// connections, then with all of them held, and reads wsedge's figures
// before the attack and at the plateau.
func (s *slowloris) attack(ctx context.Context, attack string) (*attackRun, error) {
	r := &attackRun{attack: attack}
	pr := startProber(ctx, s.probeURL, s.opts.probeRate, s.tlsConfig)
	defer func() { r.assignProbes(pr.stop()) }()
	fmt.Fprintf(os.Stderr, "wsbench slowloris: %s: probe alone for %v\n", attack, s.opts.baseline)
	r.before = s.measure("before", nil, func(*phase) error { return pause(ctx, s.opts.baseline) })
	var err error
	if r.base, err = s.figures(ctx, "before", 0); err != nil {
		return r, err
	}

	a := newAttacker(attack, s.attackTo, s.opts.n, s.opts.ramp, s.tlsConfig)
	a.start(ctx)
	defer func() { a.stop(); r.attackerErrors = a.errorSamples() }()
	goal := int64(math.Ceil(heldShare * float64(s.opts.n)))
	fmt.Fprintf(os.Stderr, "wsbench slowloris: %s: opening %d half-open connections over %v\n", attack, s.opts.n, s.opts.ramp)
	r.opening = s.measure("opening", a, func(*phase) error {
		return waitUntil(ctx, s.opts.ramp+30*time.Second, fmt.Sprintf("%d half-open connections", goal), func() bool {
			return a.launched.Load() && a.held.Load() >= goal
		})
	})
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	fmt.Fprintf(os.Stderr, "wsbench slowloris: %s: %d held; measuring for %v\n", attack, a.held.Load(), s.opts.duration)
	r.held = s.measure("held", a, func(ph *phase) error { return a.sampleHeld(ctx, s.opts.duration, &ph.held) })
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	r.plateau, err = s.figures(ctx, "plateau", int(a.held.Load()))
	return r, err
}

// measure runs run as phase name and records what wsedge and the
// machine spent meanwhile, and what the attacker a (if any) saw; run may
// record figures of its own into the phase. run's error (a timeout
// opening the connections) is only logged: the phase's figures show
// what was held.
func (s *slowloris) measure(name string, a *attacker, run func(*phase) error) *phase {
	ph := &phase{name: name}
	cpuBefore, _ := s.wsedge.proc.cpuTime()
	ownBefore := ownCPUTime()
	var cuts, errs int64
	if a != nil {
		cuts, errs = a.cuts.Load(), a.openErrs.Load()
	}
	ph.start = time.Now()
	var m stealMeter
	var err error
	ph.steal = m.measure(func() { err = run(ph) })
	ph.end = time.Now()
	cpuAfter, _ := s.wsedge.proc.cpuTime()
	ph.wsedgeCPU, ph.ownCPU = cpuAfter-cpuBefore, ownCPUTime()-ownBefore
	if a != nil {
		ph.cuts, ph.openErrs = a.cuts.Load()-cuts, a.openErrs.Load()-errs
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "wsbench slowloris: %s: %v\n", name, err)
	}
	return ph
}

// ownCPUTime is the user and system time this process has used so far.
func ownCPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// figures reads wsedge's memory, descriptors and runtime figures. The
// descriptors are read as they are: under attack they never hold still.
func (s *slowloris) figures(ctx context.Context, label string, conns int) (idleFigures, error) {
	p := s.wsedge.proc
	f := idleFigures{label: label, conns: conns, rssKiB: p.rssKiB(), fds: p.openFiles()}
	rs, err := s.debug.stats(ctx)
	if err != nil {
		return f, fmt.Errorf("%s: %w", label, err)
	}
	f.runtimeStats = rs
	fmt.Fprintf(os.Stderr, "wsbench slowloris: %s: RSS %d KiB, %d goroutines, %d descriptors\n", label, f.rssKiB, f.goroutines, f.fds)
	return f, nil
}

// pause waits for d or until ctx ends; it returns ctx's error.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// attacker holds n connections half-open against addr, reopening each
// one wsedge cuts. Its counters may be read at any time.
type attacker struct {
	attack    string
	addr      string
	n         int
	ramp      time.Duration
	tlsConfig *tls.Config
	head      []byte // sent at once
	trickle   []byte // then one byte of it every trickleInterval, cyclically

	held     atomic.Int64 // connections open and stalled now
	cuts     atomic.Int64 // connections wsedge ended (each reopened)
	openErrs atomic.Int64 // opens that failed
	launched atomic.Bool  // every slot has started

	mu     sync.Mutex
	errors []string // the first few distinct open errors

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newAttacker prepares attack against addr; start launches it.
func newAttacker(attack, addr string, n int, ramp time.Duration, tlsConfig *tls.Config) *attacker {
	a := &attacker{attack: attack, addr: addr, n: n, ramp: ramp, tlsConfig: tlsConfig}
	if attack == attackTLSHello {
		a.head, a.trickle = partialClientHello(), []byte("slowloris")
	} else {
		a.head, a.trickle = partialUpgrade(addr), []byte("X-a: b\r\n")
	}
	return a
}

// partialUpgrade is the start of a WebSocket upgrade request to the echo
// route: the request line and two headers, the blank line never comes.
func partialUpgrade(host string) []byte {
	return []byte("GET /echo HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\n")
}

// partialClientHello is the start of a TLS record announcing a 512-byte
// ClientHello: record header, handshake header and client version; the
// rest never comes.
func partialClientHello() []byte {
	const body = 512
	return []byte{
		0x16, 0x03, 0x01, body >> 8, body & 0xff, // handshake record, length
		0x01, 0x00, (body - 4) >> 8, (body - 4) & 0xff, // ClientHello, length
		0x03, 0x03, // client_version: TLS 1.2
	}
}

// start opens the connections, evenly over the ramp, each slot in a
// goroutine of its own that keeps its connection half-open until stop.
func (a *attacker) start(ctx context.Context) {
	ctx, a.cancel = context.WithCancel(ctx)
	a.wg.Go(func() {
		begin := time.Now()
		for i := range a.n {
			at := begin.Add(a.ramp * time.Duration(i) / time.Duration(a.n))
			if pause(ctx, time.Until(at)) != nil {
				return
			}
			a.wg.Go(func() { a.slot(ctx) })
		}
		a.launched.Store(true)
	})
}

// stop closes every connection and waits for the slots to end.
func (a *attacker) stop() {
	a.cancel()
	a.wg.Wait()
}

// slot keeps one connection half-open until ctx ends: it opens it,
// holds it until wsedge cuts it, and opens it again.
func (a *attacker) slot(ctx context.Context) {
	for ctx.Err() == nil {
		c, err := a.open(ctx)
		if err != nil {
			if ctx.Err() == nil {
				a.openErrs.Add(1)
				a.noteError(err)
				pause(ctx, reopenPause)
			}
			continue
		}
		a.held.Add(1)
		cut := a.hold(ctx, c)
		a.held.Add(-1)
		c.Close()
		if cut {
			a.cuts.Add(1)
		}
	}
}

// open connects, completes the TLS handshake for tls+http, and sends
// the head.
func (a *attacker) open(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", a.addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if a.attack == attackTLSHTTP {
		tc := tls.Client(c, a.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	if _, err := c.Write(a.head); err != nil {
		c.Close()
		return nil, fmt.Errorf("send the head: %w", err)
	}
	return c, nil
}

// hold trickles a byte every trickleInterval until the connection ends
// or ctx does (which closes it), and reports whether wsedge ended it.
// Anything read (a close, a reset, or an answer) is the end.
func (a *attacker) hold(ctx context.Context, c net.Conn) (cut bool) {
	defer closeOnDone(ctx, c)()
	var buf [64]byte
	for i := 0; ; i++ {
		c.SetReadDeadline(time.Now().Add(trickleInterval))
		if _, err := c.Read(buf[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
			return ctx.Err() == nil
		}
		j := i % len(a.trickle)
		if _, err := c.Write(a.trickle[j : j+1]); err != nil {
			return ctx.Err() == nil
		}
	}
}

// closeOnDone closes c if ctx ends before the returned release is
// called; release returns once such a close is done, so that nothing
// outlives its caller.
func closeOnDone(ctx context.Context, c io.Closer) (release func()) {
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.Close()
		close(closed)
	})
	return func() {
		if !stop() {
			<-closed
		}
	}
}

// noteError keeps the first few distinct open errors for the report.
func (a *attacker) noteError(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if msg := err.Error(); len(a.errors) < 3 && !slices.Contains(a.errors, msg) {
		a.errors = append(a.errors, msg)
	}
}

// errorSamples are the open errors noteError kept.
func (a *attacker) errorSamples() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.errors)
}

// heldStats sum up the attacker's held count sampled over a phase.
type heldStats struct {
	samples  int
	sum, min int64
}

func (h heldStats) mean() float64 {
	if h.samples == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.samples)
}

// sampleHeld samples the held count every pollInterval for d.
func (a *attacker) sampleHeld(ctx context.Context, d time.Duration, into *heldStats) error {
	*into = heldStats{min: math.MaxInt64}
	return holdFor(ctx, d, func() error {
		v := a.held.Load()
		into.samples++
		into.sum += v
		into.min = min(into.min, v)
		return nil
	})
}

// prober opens probe connections one at a time until stopped.
type prober struct {
	url     string
	rate    float64
	dialer  *websocket.Dialer
	samples []probeSample // the probe goroutine's until stop returns them
	cancel  context.CancelFunc
	done    chan struct{}
}

// probeSample is one probe connection: when it started, how long its
// opening handshake took, and what failed, if anything.
type probeSample struct {
	at        time.Time
	handshake time.Duration // 0 if the handshake failed
	err       error
}

// startProber starts probing url until stop.
func startProber(ctx context.Context, url string, rate float64, tlsConfig *tls.Config) *prober {
	ctx, cancel := context.WithCancel(ctx)
	p := &prober{url: url, rate: rate, cancel: cancel, done: make(chan struct{}),
		dialer: &websocket.Dialer{TLSClientConfig: tlsConfig, HandshakeTimeout: probeTimeout}}
	go func() {
		defer close(p.done)
		p.run(ctx)
	}()
	return p
}

// stop ends the probe and returns its samples.
func (p *prober) stop() []probeSample {
	p.cancel()
	<-p.done
	return p.samples
}

// run probes at the rate, one connection at a time: a slow probe delays
// the next rather than starting several at once.
func (p *prober) run(ctx context.Context) {
	var interval time.Duration
	if p.rate > 0 {
		interval = time.Duration(float64(time.Second) / p.rate)
	}
	next := time.Now()
	for pause(ctx, time.Until(next)) == nil {
		s := p.once(ctx)
		if ctx.Err() != nil {
			return // cut short by the end: not a sample
		}
		p.samples = append(p.samples, s)
		if next = next.Add(interval); next.Before(time.Now()) {
			next = time.Now()
		}
	}
}

// once opens a WebSocket connection to the echo route, timing its
// handshake, sends a message, reads the echo and closes.
func (p *prober) once(ctx context.Context) probeSample {
	start := time.Now()
	s := probeSample{at: start}
	c, resp, err := p.dialer.DialContext(ctx, p.url, nil)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (%s)", err, resp.Status)
		}
		s.err = fmt.Errorf("handshake: %w", err)
		return s
	}
	s.handshake = time.Since(start)
	defer c.Close()
	defer closeOnDone(ctx, c)()
	s.err = echoOnce(c)
	return s
}

// echoOnce sends one message on c, reads its echo, and closes with a
// closing handshake.
func echoOnce(c *websocket.Conn) error {
	deadline := time.Now().Add(probeTimeout)
	c.SetReadDeadline(deadline)
	c.SetWriteDeadline(deadline)
	if err := c.WriteMessage(websocket.TextMessage, []byte(probeMessage)); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	_, got, err := c.ReadMessage()
	if err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	if !bytes.Equal(got, []byte(probeMessage)) {
		return fmt.Errorf("echo: got %q, want %q", got, probeMessage)
	}
	if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		return fmt.Errorf("close: got %v, want the close frame back", err)
	}
	return nil
}

// probeStats sum up the probe connections of a phase.
type probeStats struct {
	count, failed int
	handshakes    []time.Duration // of those whose handshake succeeded, sorted
	errors        []string        // the first few distinct errors
}

// assignProbes gives each phase the probe connections started within it.
func (r *attackRun) assignProbes(samples []probeSample) {
	for _, ph := range []*phase{r.before, r.opening, r.held} {
		if ph == nil {
			continue
		}
		for _, s := range samples {
			if s.at.Before(ph.start) || !s.at.Before(ph.end) {
				continue
			}
			ph.probe.add(s)
		}
		slices.Sort(ph.probe.handshakes)
	}
}

func (ps *probeStats) add(s probeSample) {
	ps.count++
	if s.handshake > 0 {
		ps.handshakes = append(ps.handshakes, s.handshake)
	}
	if s.err != nil {
		ps.failed++
		if msg := s.err.Error(); len(ps.errors) < 3 && !slices.Contains(ps.errors, msg) {
			ps.errors = append(ps.errors, msg)
		}
	}
}

// succeeded is the probe connections that echoed and closed cleanly.
func (ps *probeStats) succeeded() int { return ps.count - ps.failed }

// percentile is the nearest-rank percentile p of the sorted handshakes.
func (ps *probeStats) percentile(p float64) time.Duration {
	return nearestRank(ps.handshakes, p)
}

// slowlorisFailures are the reasons for exit status 1: an attack that
// could not hold its connections, or a probe that never got through.
// Timing is never one.
func slowlorisFailures(runs []*attackRun, n int) []string {
	var out []string
	for _, r := range runs {
		if r.held == nil {
			out = append(out, fmt.Sprintf("%s: the attack did not reach its measured phase", r.attack))
			continue
		}
		if got := r.held.held.mean(); got < heldShare*float64(n) {
			out = append(out, fmt.Sprintf("%s: held %.0f half-open connections on average, under %.0f%% of %d", r.attack, got, 100*heldShare, n))
		}
		for _, ph := range []*phase{r.before, r.held} {
			if ph.probe.succeeded() == 0 {
				out = append(out, fmt.Sprintf("%s, %s: no probe connection got through (%d tried: %q)", r.attack, ph.name, ph.probe.count, ph.probe.errors))
			}
		}
	}
	return out
}

// report renders the runs as one Markdown table with the setting.
func (s *slowloris) report(runs []*attackRun) string {
	var b strings.Builder
	b.WriteString(machineLines())
	o := s.opts
	scheme := "wss:// (TLS)"
	if o.plain {
		scheme = "ws:// (plain)"
	}
	timeout := wsedgeHandshakeTimeout
	if o.handshakeTimeout > 0 {
		timeout = o.handshakeTimeout
	}
	fmt.Fprintf(&b, "slowloris against wsedge over %s (echo route, handshake_timeout %v): %d half-open connections, first opened over %v, one more byte every %v, reopened as soon as wsedge cuts one; measured for %v once %.0f%% were held\n",
		scheme, timeout, o.n, o.ramp, trickleInterval, o.duration, 100*heldShare)
	rate := "back to back"
	if o.probeRate > 0 {
		rate = fmt.Sprintf("%v/s", o.probeRate)
	}
	handshake := "TCP + upgrade until the 101"
	if !o.plain {
		handshake = "TCP + TLS (X25519, no resumption) + upgrade until the 101"
	}
	fmt.Fprintf(&b, "probe: one WebSocket connection at a time, %s: handshake (%s) timed, one echo, closing handshake; alone for %v before each attack\n", rate, handshake, o.baseline)
	for _, attack := range o.attacks() {
		fmt.Fprintf(&b, "attack %s: %s\n", attack, attackAbout(attack))
	}
	b.WriteString("memory at \"held\" is read at the end of the phase, per half-open connection = per descriptor wsedge held above \"before\"; heap is HeapInuse after a collection, stack StackInuse; " +
		"CPU is in % of one core (wsbench: the attacker and the probe)\n")
	b.WriteString("\n| attack | phase | s | half-open held, mean (min) | cut by wsedge, reopened | probes | probe errors | handshake p50 ms | p90 ms | p99 ms | max ms | wsedge CPU % | wsbench CPU % | steal % | RSS MiB | RSS KiB/half-open | heap KiB/half-open | stack KiB/half-open | goroutines | fds |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range runs {
		for _, ph := range []*phase{r.before, r.opening, r.held} {
			if ph != nil {
				b.WriteString(r.row(ph))
			}
		}
	}
	b.WriteString(summaryLines(runs))
	return b.String()
}

// attackAbout says what a half-open connection of attack sends.
func attackAbout(attack string) string {
	upgrade := fmt.Sprintf("%q, then one header byte at a time", partialUpgrade("HOST"))
	switch attack {
	case attackTLSHTTP:
		return "a complete TLS handshake, then " + upgrade
	case attackTLSHello:
		return fmt.Sprintf("the first %d bytes of a TLS record announcing a 512-byte ClientHello, then one byte at a time", len(partialClientHello()))
	}
	return upgrade
}

// row is one phase's line of the table.
func (r *attackRun) row(ph *phase) string {
	secs := ph.end.Sub(ph.start).Seconds()
	held, cuts := "", ""
	switch ph.name {
	case "held":
		held, cuts = fmt.Sprintf("%.0f (%d)", ph.held.mean(), ph.held.min), fmt.Sprint(ph.cuts)
	case "opening":
		cuts = fmt.Sprint(ph.cuts)
	}
	share := func(d time.Duration) float64 { return 100 * d.Seconds() / max(secs, 1e-9) }
	ps := &ph.probe
	return fmt.Sprintf("| %s | %s | %.1f | %s | %s | %d | %d | %s | %s | %s | %s | %.0f | %.0f | %.1f | %s |\n",
		r.attack, ph.name, secs, held, cuts, ps.count, ps.failed,
		ms(ps.percentile(50)), ms(ps.percentile(90)), ms(ps.percentile(99)), ms(ps.percentile(100)),
		share(ph.wsedgeCPU), share(ph.ownCPU), ph.steal, r.memoryCells(ph.name))
}

// memoryCells are the six memory columns: wsedge's figures before the
// attack and at the plateau, and the growth per half-open connection
// (per descriptor wsedge held above its baseline).
func (r *attackRun) memoryCells(phase string) string {
	cells := make([]string, 6)
	f := r.base
	if phase == "held" {
		f = r.plateau
	}
	if f.label == "" || (phase != "before" && phase != "held") {
		return strings.Join(cells, " | ")
	}
	cells[0], cells[4], cells[5] = fmt.Sprintf("%.1f", float64(f.rssKiB)/1024), fmt.Sprint(f.goroutines), fmt.Sprint(f.fds)
	if conns := float64(f.fds - r.base.fds); phase == "held" && conns > 0 {
		cells[1] = fmt.Sprintf("%.2f", float64(f.rssKiB-r.base.rssKiB)/conns)
		cells[2] = fmt.Sprintf("%.2f", (float64(f.heapInuse)-float64(r.base.heapInuse))/1024/conns)
		cells[3] = fmt.Sprintf("%.2f", (float64(f.stackInuse)-float64(r.base.stackInuse))/1024/conns)
	}
	return strings.Join(cells, " | ")
}

// underGoal says whether d, if measured, is under goal.
func underGoal(d, goal time.Duration) string {
	switch {
	case d == 0:
		return "no data"
	case d < goal:
		return "met"
	}
	return "not met"
}

// ms formats a duration in milliseconds, or "" for none.
func ms(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

// summaryLines state issue 10's figure per attack (reported, not
// judged), and the errors seen.
func summaryLines(runs []*attackRun) string {
	var b strings.Builder
	b.WriteString("\n")
	for _, r := range runs {
		if r.held != nil && r.before != nil {
			p99, base := r.held.probe.percentile(99), r.before.probe.percentile(99)
			fmt.Fprintf(&b, "%s: probe p99 handshake %s ms while held (%s ms before); issue 10 wants under 100 ms: %s (reported, not judged)\n",
				r.attack, ms(p99), ms(base), underGoal(p99, 100*time.Millisecond))
		}
		for _, ph := range []*phase{r.before, r.opening, r.held} {
			if ph != nil && len(ph.probe.errors) > 0 {
				fmt.Fprintf(&b, "%s, %s: probe errors: %s\n", r.attack, ph.name, strings.Join(ph.probe.errors, "; "))
			}
		}
		if len(r.attackerErrors) > 0 {
			var failed int64
			for _, ph := range []*phase{r.opening, r.held} {
				if ph != nil {
					failed += ph.openErrs
				}
			}
			fmt.Fprintf(&b, "%s: %d of the attacker's opens failed, e.g.: %s\n", r.attack, failed, strings.Join(r.attackerErrors, "; "))
		}
	}
	return b.String()
}
