// wsbench idlescale: what an idle proxied connection costs wsedge as
// their number grows to what the machine allows, and whether wsedge
// gives it all back when they close. It is what bench/idle-scale runs.
//
// wsedge runs with keepalive pings every 5 s, so their cost is part of
// what is measured. Connections are opened in steps by wsload processes
// in idle mode, which hold them until the end; each step waits until
// wsedge holds the descriptors (two per proxied connection), then for a
// ping interval and a pong timeout, then records wsedge's figures.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Keepalive of the wsedge under measurement.
const (
	idlePingInterval = 5 * time.Second
	idlePongTimeout  = 5 * time.Second
	// idleSettleTime is how long a step holds its connections before
	// the figures are read: every connection has been pinged at least
	// once, and one that did not answer has been closed by then.
	idleSettleTime = idlePingInterval + idlePongTimeout
)

// idleScaleOptions are the flags of wsbench idlescale.
type idleScaleOptions struct {
	plain      bool
	steps      []idleStep
	perProcess int     // connections per wsload process
	sources    int     // source addresses, from 127.0.0.2 up
	ramp       float64 // new connections per second in a step, over all its processes
	dir        string
	keep       bool
}

// idleStep is a number of connections to hold, or the most the
// machine allows (max).
type idleStep struct {
	conns int
	max   bool
}

func parseIdleScaleFlags(args []string) (idleScaleOptions, error) {
	var o idleScaleOptions
	fs := flag.NewFlagSet("wsbench idlescale", flag.ContinueOnError)
	fs.BoolVar(&o.plain, "plain", false, "connect over ws:// instead of wss://")
	steps := fs.String("steps", "1000,2500,5000,max", "comma-separated connection counts to measure at; max is the most wsedge's open-file limit allows")
	fs.IntVar(&o.perProcess, "per-process", 2500, "connections each wsload process holds (each has its own open-file limit)")
	fs.IntVar(&o.sources, "sources", 4, "source addresses to spread connections over, 127.0.0.2 and up")
	fs.Float64Var(&o.ramp, "ramp", 500, "new connections per second while a step opens them")
	fs.StringVar(&o.dir, "dir", "", "working directory for binaries, configs and logs (default: a new temporary one)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.steps, err = parseIdleSteps(*steps); err != nil {
		return o, fmt.Errorf("-steps: %w", err)
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.perProcess < 1:
		return o, fmt.Errorf("-per-process %d: must be at least 1", o.perProcess)
	case o.sources < 1 || o.sources > 250:
		return o, fmt.Errorf("-sources %d: must be 1 to 250", o.sources)
	case o.ramp <= 0:
		return o, fmt.Errorf("-ramp %v: must be positive", o.ramp)
	}
	return o, nil
}

// parseIdleSteps reads -steps: positive counts and "max".
func parseIdleSteps(v string) ([]idleStep, error) {
	var out []idleStep
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "max" {
			out = append(out, idleStep{max: true})
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is neither a positive number of connections nor max", s)
		}
		out = append(out, idleStep{conns: n})
	}
	return out, nil
}

// resolveSteps turns steps into connection counts, in increasing order,
// each at most maxConns.
func resolveSteps(steps []idleStep, maxConns int) ([]int, error) {
	var out []int
	for _, st := range steps {
		n := st.conns
		if st.max {
			n = maxConns
		}
		if n > maxConns {
			return nil, fmt.Errorf("step %d: more connections than this machine allows wsedge (%d)", n, maxConns)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// sourceAddrs are the first n source addresses, 127.0.0.2 and up.
func sourceAddrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.0.%d", i+2)
	}
	return out
}

// idleScale is one idlescale session.
type idleScale struct {
	opts    idleScaleOptions
	dir     string
	wsload  string
	backend *process
	wsedge  *target
	debug   *debugClient
	loads   []*heldLoad // running wsload processes, owned until closeLoads
	held    int         // connections they were asked to hold
	maxNote string      // how the maximum was computed
	notes   []string
}

// idleFigures are wsedge's figures at one point of the measurement.
type idleFigures struct {
	label  string
	conns  int
	rssKiB int64
	fds    int
	runtimeStats
}

// runIdleScale is the idlescale subcommand; it returns the exit status.
func runIdleScale(args []string) int {
	o, err := parseIdleScaleFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench idlescale:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &idleScale{opts: o}
	defer s.close()
	if err := s.start(); err != nil {
		fmt.Fprintln(os.Stderr, "wsbench idlescale:", err)
		return 1
	}
	figures, err := s.measure(ctx)
	fmt.Print(s.report(figures))
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench idlescale:", err)
		return 1
	}
	return 0
}

// start builds the binaries and starts the backend and wsedge.
func (s *idleScale) start() error {
	dir, err := workDir(s.opts.dir)
	if err != nil {
		return err
	}
	s.dir = dir
	fmt.Fprintf(os.Stderr, "wsbench idlescale: working in %s\n", s.dir)
	wsedgeBin, wsloadBin, err := buildBinaries(s.dir)
	if err != nil {
		return err
	}
	s.wsload = wsloadBin
	cert, err := writeCertificate(s.dir)
	if err != nil {
		return err
	}
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	backendAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	if s.backend, err = startBackend(s.dir, backendAddr); err != nil {
		return err
	}
	debugAddr := fmt.Sprintf("127.0.0.1:%d", ports[3])
	config := wsedgeConfig(ports[1], ports[2], backendAddr, cert) + keepaliveConfig(idlePingInterval, idlePongTimeout) + profilesConfig(debugAddr)
	if s.wsedge, err = startWsedge(s.dir, wsedgeBin, config, ports[1], ports[2]); err != nil {
		return err
	}
	s.debug = newDebugClient(debugAddr)
	for _, u := range []string{"ws://" + backendAddr, s.wsedge.plainURL, "http://" + debugAddr} {
		if err := waitListening(u); err != nil {
			return err
		}
	}
	return nil
}

// measure records the baseline, each step and the state after closing.
func (s *idleScale) measure(ctx context.Context) ([]idleFigures, error) {
	base, err := s.figures(ctx, "baseline", 0)
	if err != nil {
		return nil, err
	}
	figures := []idleFigures{base}
	steps, err := s.steps(base)
	if err != nil {
		return figures, err
	}
	var stepErr error
	for _, n := range steps {
		f, err := s.step(ctx, base, n)
		if err != nil {
			stepErr = fmt.Errorf("step %d connections: %w", n, err)
			break
		}
		figures = append(figures, f)
	}
	after, closeErr := s.closeAll(ctx, base)
	figures = append(figures, after...)
	return figures, errors.Join(stepErr, closeErr)
}

// steps resolves -steps against the most connections wsedge can hold:
// two descriptors each within its hard open-file limit (Go raises the
// soft limit to it at start), less what it holds already and a margin.
func (s *idleScale) steps(base idleFigures) ([]int, error) {
	limit, err := hardFileLimit(s.wsedge.proc.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	maxConns := (limit - base.fds - fdMargin) / 2
	s.maxNote = fmt.Sprintf("max = (wsedge's hard open-file limit %d - %d descriptors at baseline - margin %d) / 2 descriptors per connection = %d",
		limit, base.fds, fdMargin, maxConns)
	return resolveSteps(s.opts.steps, maxConns)
}

// step opens connections up to conns, waits for wsedge to hold them and
// for them to settle, and records the figures.
func (s *idleScale) step(ctx context.Context, base idleFigures, conns int) (idleFigures, error) {
	added := conns - s.held
	if err := s.open(added); err != nil {
		return idleFigures{}, err
	}
	p := s.wsedge.proc
	want := base.fds + 2*conns
	limit := time.Minute + time.Duration(4*float64(added)/s.opts.ramp*float64(time.Second))
	fmt.Fprintf(os.Stderr, "wsbench idlescale: opening %d more connections (%d in all)\n", added, conns)
	if err := waitUntil(ctx, limit, fmt.Sprintf("wsedge to hold %d connections", conns), func() bool {
		return p.openFiles() >= want || s.loadFailed() != nil
	}); err != nil {
		return idleFigures{}, fmt.Errorf("%w (it holds %d)", err, (p.openFiles()-base.fds)/2)
	}
	if err := s.loadFailed(); err != nil {
		return idleFigures{}, err
	}
	fmt.Fprintf(os.Stderr, "wsbench idlescale: %d connections open; settling for %v\n", conns, idleSettleTime)
	if err := holdFor(ctx, idleSettleTime, s.loadFailed); err != nil {
		return idleFigures{}, err
	}
	if got := p.openFiles(); got < want {
		return idleFigures{}, fmt.Errorf("wsedge dropped connections while they sat idle: %d descriptors, want %d (see wsedge.log)", got, want)
	}
	return s.figures(ctx, strconv.Itoa(conns), conns)
}

// open starts wsload processes for n more connections, at most
// perProcess each, sharing the ramp and the source addresses.
func (s *idleScale) open(n int) error {
	procs := (n + s.opts.perProcess - 1) / s.opts.perProcess
	ramp := s.opts.ramp / float64(procs)
	for n > 0 {
		c := min(n, s.opts.perProcess)
		l := load{mode: "idle", conns: c, size: 64, duration: time.Hour, tls: !s.opts.plain,
			extra: []string{"-ramp", strconv.FormatFloat(ramp, 'f', -1, 64), "-local-addrs", strings.Join(sourceAddrs(s.opts.sources), ",")}}
		h, err := startHeldLoad(s.wsload, l.args(s.wsedge.url(!s.opts.plain)))
		if err != nil {
			return err
		}
		s.loads = append(s.loads, h)
		s.held += c
		n -= c
	}
	return nil
}

// loadFailed is an error for the first wsload process that has ended on
// its own: it was to hold its connections until stopped.
func (s *idleScale) loadFailed() error {
	for i, h := range s.loads {
		if h.exited() {
			return fmt.Errorf("wsload process %d ended early (%v): %s", i+1, h.err, strings.TrimSpace(h.stderr.String()))
		}
	}
	return nil
}

// closeAll stops the wsload processes, checks what they report, waits
// for wsedge to release the connections' descriptors and records the
// figures then ("after close") and once its RSS has stopped falling
// ("after close, settled"): Go returns the memory of a collected heap to
// the system gradually, in the background.
func (s *idleScale) closeAll(ctx context.Context, base idleFigures) ([]idleFigures, error) {
	fmt.Fprintf(os.Stderr, "wsbench idlescale: closing %d connections\n", s.held)
	s.closeLoads()
	p := s.wsedge.proc
	if err := waitUntil(ctx, 2*time.Minute, "wsedge to close the connections' descriptors", func() bool {
		return p.openFiles() <= base.fds
	}); err != nil {
		return nil, fmt.Errorf("%w (%d open, %d at baseline)", err, p.openFiles(), base.fds)
	}
	closed, err := s.figures(ctx, "after close", 0)
	if err != nil {
		return nil, err
	}
	// figures made wsedge collect its heap (the heap profile's gc=1).
	if err := s.settleRSS(ctx); err != nil {
		return []idleFigures{closed}, err
	}
	settled, err := s.figures(ctx, "after close, settled", 0)
	if err != nil {
		return []idleFigures{closed}, err
	}
	return []idleFigures{closed, settled}, nil
}

// rssSettleLimit bounds the wait for wsedge's RSS to stop falling.
const rssSettleLimit = 2 * time.Minute

// settleRSS has wsedge collect its heap every few seconds until its RSS
// has not fallen by a MiB for a while, or rssSettleLimit has passed
// (noted, not an error: the figures show where it got to). Go's
// scavenger returns freed heap to the system after a collection; an
// idle wsedge allocates too little to start one, and the runtime's
// forced collection comes only every two minutes.
func (s *idleScale) settleRSS(ctx context.Context) error {
	const collectEvery, quiet = 5 * time.Second, 15 * time.Second
	p := s.wsedge.proc
	low, lastDrop, lastCollect := p.rssKiB(), time.Now(), time.Now()
	var collectErr error
	err := waitUntil(ctx, rssSettleLimit, "wsedge's RSS to stop falling", func() bool {
		if time.Since(lastCollect) >= collectEvery {
			collectErr, lastCollect = s.debug.collect(ctx), time.Now()
		}
		if n := p.rssKiB(); n < low-1024 {
			low, lastDrop = n, time.Now()
		}
		return collectErr != nil || time.Since(lastDrop) >= quiet
	})
	switch {
	case collectErr != nil:
		return collectErr
	case err != nil && ctx.Err() == nil:
		s.notes = append(s.notes, fmt.Sprintf("after close: RSS was still falling after %v", rssSettleLimit))
		return nil
	}
	return err
}

// closeLoads interrupts every wsload process at once (each closes its
// connections with a closing handshake), waits for all, and notes any
// connection that did not last until then.
func (s *idleScale) closeLoads() {
	for _, h := range s.loads {
		h.interrupt()
	}
	for i, h := range s.loads {
		r, err := h.wait(30 * time.Second)
		switch {
		case err != nil:
			s.notes = append(s.notes, fmt.Sprintf("wsload process %d: %v", i+1, err))
		case r.ConnsOpenAtEnd != r.ConnsOpened || r.ConnsFailed > 0 || r.Errors > 0:
			s.notes = append(s.notes, fmt.Sprintf("wsload process %d: %d opened, %d failed, %d open at the end, %d errors %q",
				i+1, r.ConnsOpened, r.ConnsFailed, r.ConnsOpenAtEnd, r.Errors, r.ErrorSamples))
		}
	}
	s.loads, s.held = nil, 0
}

// figures reads wsedge's memory, descriptors and runtime figures.
func (s *idleScale) figures(ctx context.Context, label string, conns int) (idleFigures, error) {
	p := s.wsedge.proc
	f := idleFigures{label: label, conns: conns, rssKiB: p.rssKiB(), fds: p.steadyOpenFiles()}
	rs, err := s.debug.stats(ctx)
	if err != nil {
		return f, fmt.Errorf("%s: %w", label, err)
	}
	f.runtimeStats = rs
	fmt.Fprintf(os.Stderr, "wsbench idlescale: %s: %d connections, RSS %d KiB, %d goroutines, %d descriptors\n",
		label, conns, f.rssKiB, f.goroutines, f.fds)
	return f, nil
}

// close stops whatever is still running and removes a temporary
// working directory.
func (s *idleScale) close() {
	s.closeLoads()
	for _, p := range []*process{s.wsedgeProc(), s.backend} {
		if p != nil {
			p.stop()
		}
	}
	if !s.opts.keep && s.opts.dir == "" && s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

func (s *idleScale) wsedgeProc() *process {
	if s.wsedge == nil {
		return nil
	}
	return s.wsedge.proc
}

// report renders the figures as a Markdown table with the setting.
func (s *idleScale) report(figures []idleFigures) string {
	var b strings.Builder
	b.WriteString(machineLines())
	scheme := "wss:// (TLS)"
	if s.opts.plain {
		scheme = "ws:// (plain)"
	}
	fmt.Fprintf(&b, "idle connections through wsedge over %s from %s; wsedge keepalive ping every %v, pong timeout %v; figures read %v after each step's connections were all open\n",
		scheme, strings.Join(sourceAddrs(s.opts.sources), ","), idlePingInterval, idlePongTimeout, idleSettleTime)
	if s.maxNote != "" {
		fmt.Fprintln(&b, s.maxNote)
	}
	b.WriteString("heap is HeapInuse after a collection, stack is StackInuse, both from the debug endpoint; per connection is the growth over the baseline; " +
		"\"after close\" is read once wsedge's descriptors are back, \"settled\" once its RSS stopped falling with a collection every 5s\n")
	for _, n := range s.notes {
		fmt.Fprintln(&b, n)
	}
	b.WriteString("\n| step | connections | RSS MiB | RSS KiB/conn | heap MiB | heap KiB/conn | stack KiB total | goroutines | fds |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	if len(figures) == 0 {
		return b.String()
	}
	base := figures[0]
	for _, f := range figures {
		rssPer, heapPer := "", ""
		if f.conns > 0 {
			rssPer = fmt.Sprintf("%.1f", float64(f.rssKiB-base.rssKiB)/float64(f.conns))
			heapPer = fmt.Sprintf("%.1f", (float64(f.heapInuse)-float64(base.heapInuse))/1024/float64(f.conns))
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f | %s | %.1f | %s | %d | %d | %d |\n",
			f.label, f.conns, float64(f.rssKiB)/1024, rssPer, float64(f.heapInuse)/(1<<20), heapPer, f.stackInuse/1024, f.goroutines, f.fds)
	}
	return b.String()
}
