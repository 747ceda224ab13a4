package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// row is one line of the report: a metric measured on some targets, with
// the goals it is held to.
type row struct {
	id, workload, metric string
	subject              string               // the target judged; "" is wsedge
	values               map[string][]float64 // by target name, one per run
	lowerIsBetter        bool
	goals                []goal
	// notApplicable are targets the workload cannot run against, shown
	// as "n/a" rather than left empty.
	notApplicable []string
	// baseline is the values key the measured column compares wsedge
	// to in a row without goals, named baselineName; "" is nginx.
	baseline, baselineName string
}

// goal compares wsedge's median to a reference: another target's median
// times factor, or a fixed bound when ref is "".
type goal struct {
	ref    string // "direct", "nginx", "wsedge-plain" or "" for a bound
	factor float64
	bound  float64
	info   bool // a stretch figure shown for information, not a goal that fails
}

func newRow(id, workload, metric string, lower bool, goals ...goal) *row {
	return &row{id: id, workload: workload, metric: metric, values: map[string][]float64{}, lowerIsBetter: lower, goals: goals}
}

// add records one run's value for target; NaN means the metric does not
// apply to the target (direct has no proxy CPU) and is not recorded.
func (r *row) add(target string, v float64) {
	if math.IsNaN(v) {
		return
	}
	r.values[target] = append(r.values[target], v)
}

// metricsCost is r's figure for wsedge with its metrics on, against the
// same wsedge with them off (issue 9: within 3 %, same run).
func metricsCost(r *row) *row {
	factor := 0.97
	if r.lowerIsBetter {
		factor = 1.03
	}
	m := newRow(r.id, r.workload, r.metric+", metrics on", r.lowerIsBetter, goal{ref: "wsedge", factor: factor})
	m.subject = "wsedge-metrics"
	m.values["wsedge"] = r.values["wsedge"]
	m.values["wsedge-metrics"] = r.values["wsedge-metrics"]
	delete(r.values, "wsedge-metrics")
	return m
}

// runWorkloads runs every selected workload and returns the report rows.
func (b *bench) runWorkloads() []*row {
	var rows []*row
	want := b.opts.wants
	d := b.opts.duration
	withMetrics := append(slices.Clone(b.targets), b.withMetrics)
	if want("1") {
		const name = "100 conns, 64 B echo, plain"
		msgs := newRow("1", name, "msgs/s", false, goal{ref: "nginx", factor: 1}, goal{ref: "nginx", factor: 1.15, info: true})
		cpu := newRow("1", name, "proxy CPU µs/round trip", true, goal{ref: "nginx", factor: 1})
		l := load{mode: "echo", conns: 100, size: 64, duration: d}
		b.interleave([]*row{msgs, cpu}, withMetrics, l, throughputAndCPU)
		calls := newRow("1", name, "syscalls/round trip", true, goal{bound: 4.5})
		b.syscallsPerRoundTrip(calls, l)
		rows = append(rows, msgs, cpu, calls, metricsCost(msgs), metricsCost(cpu))
	}
	if want("2") {
		r := newRow("2", "10 conns, 64 KiB echo, plain", "MB/s", false, goal{ref: "direct", factor: 0.85}, goal{ref: "nginx", factor: 1.5})
		b.interleave([]*row{r}, withMetrics, load{mode: "echo", conns: 10, size: 64 << 10, duration: d},
			func(m measurement) []float64 { return []float64{m.load.MBPerSec} })
		rows = append(rows, r, metricsCost(r))
	}
	if want("3") {
		p50 := newRow("3", "1 conn, 64 B round trip", "p50 µs", true, goal{ref: "nginx", factor: 1})
		p99 := newRow("3", "1 conn, 64 B round trip", "p99 µs", true, goal{ref: "nginx", factor: 1})
		b.interleave([]*row{p50, p99}, b.targets, load{mode: "echo", conns: 1, size: 64, duration: d},
			func(m measurement) []float64 { return []float64{m.load.Latency.P50, m.load.Latency.P99} })
		rows = append(rows, p50, p99)
	}
	if want("4") {
		plain := newRow("4", fmt.Sprintf("%d idle proxied conns, plain", b.opts.idle), "RSS KiB/conn", true, goal{bound: 4})
		tls := newRow("4", fmt.Sprintf("%d idle proxied conns, TLS", b.opts.idle), "RSS KiB/conn", true, goal{bound: 12})
		b.idleMemory(plain, tls)
		rows = append(rows, plain, tls)
	}
	if want("5") {
		// nginx 1.22 with OpenSSL 3.0 cannot do the post-quantum hybrid
		// Go prefers (nor can HAProxy 2.6 on it), so the comparison
		// offers every proxy X25519; the last row is what a client
		// offering Go's default gets.
		r := newRow("5", "new wss connections (TLS + upgrade + dial), X25519", "conns/s", false, goal{ref: "nginx", factor: 1.2})
		hs := load{mode: "handshake", conns: 4, size: 64, duration: d, tls: true, extra: []string{"-curves", "x25519"}}
		handshakes := func(m measurement) []float64 { return []float64{m.load.HandshakesPerSec} }
		// The same load over HTTP/2, in the same runs (http2.go).
		h2 := b.newConnsOverHTTP2(r, hs, handshakes)
		pq := newRow("5", "new wss connections, client offers X25519MLKEM768 (info)", "conns/s", false)
		hs.extra = nil
		b.interleave([]*row{pq}, b.proxies(), hs, handshakes)
		rows = append(rows, r, h2, pq)
	}
	if want("6") {
		r := newRow("6", "wss, 100 conns, 64 B echo", "msgs/s", false, goal{ref: "wsedge-plain", factor: 0.8})
		b.wssVersusPlain(r, load{mode: "echo", conns: 100, size: 64, duration: d})
		rows = append(rows, r)
	}
	if want("7") {
		rows = append(rows, allocationsRow())
	}
	if want("8") {
		const name = "wss, 100 conns, 1 KiB echo"
		msgs := newRow("8", name, "msgs/s", false, goal{ref: "nginx", factor: 1.1})
		cpu := newRow("8", name, "proxy CPU µs/round trip", true, goal{ref: "nginx", factor: 1})
		b.interleave([]*row{msgs, cpu}, b.proxies(), load{mode: "echo", conns: 100, size: 1 << 10, duration: d, tls: true}, throughputAndCPU)
		rows = append(rows, msgs, cpu)
	}
	return rows
}

// measurement is one wsload run against a target: wsload's summary and
// the proxy's CPU time during the measured phase.
type measurement struct {
	load     loadResult
	proxyCPU time.Duration
	hasProxy bool // false for direct, which has no proxy process
}

// cpuPerRoundTrip is the proxy's CPU time per round trip of the measured
// phase in µs, or NaN without a proxy or round trips.
func (m measurement) cpuPerRoundTrip() float64 {
	if !m.hasProxy || m.load.MessagesMeasured == 0 {
		return math.NaN()
	}
	return float64(m.proxyCPU.Microseconds()) / float64(m.load.MessagesMeasured)
}

// throughputAndCPU are the values of an echo workload's two rows.
func throughputAndCPU(m measurement) []float64 {
	return []float64{m.load.MsgsPerSec, m.cpuPerRoundTrip()}
}

// interleave runs l against each of targets once per run, rotating the
// order from run to run so no target always goes first, and adds what
// metrics makes of each run to rows, one value per row.
func (b *bench) interleave(rows []*row, targets []*target, l load, metrics func(measurement) []float64) {
	vs := make([]variant, len(targets))
	for i, t := range targets {
		vs[i] = variant{rows: rows, t: t, l: l}
	}
	b.interleaveVariants(vs, metrics)
}

// variant is one load against one target whose figures go to rows, under
// the target's name.
type variant struct {
	rows  []*row
	t     *target
	l     load
	label string // in progress lines; "" is the target's name
}

// interleaveVariants runs each variant once per run, rotating the order
// from run to run so no variant always goes first, and adds what metrics
// makes of each run to the variant's rows, one value per row.
func (b *bench) interleaveVariants(vs []variant, metrics func(measurement) []float64) {
	for run := range b.opts.runs {
		for i := range vs {
			v := vs[(i+run)%len(vs)]
			label := v.label
			if label == "" {
				label = v.t.name
			}
			m, err := b.measure(v.t, v.l)
			if err != nil {
				fmt.Fprintf(os.Stderr, "wsbench: workload %s, %s: %v\n", v.rows[0].id, label, err)
				continue
			}
			values := metrics(m)
			for j, x := range values {
				v.rows[j].add(v.t.name, x)
			}
			fmt.Fprintf(os.Stderr, "wsbench: workload %s run %d %-7s %v\n", v.rows[0].id, run+1, label, values)
		}
	}
}

// measure runs l against t and, for a proxy, reads its CPU time at the
// start and end of the measured phase.
func (b *bench) measure(t *target, l load) (measurement, error) {
	if t.proc == nil {
		r, err := b.runLoad(t.url(l.tls), l, nil)
		return measurement{load: r}, err
	}
	cpu := &cpuMeter{proc: t.proc}
	r, err := b.runLoad(t.url(l.tls), l, cpu)
	return measurement{load: r, proxyCPU: cpu.used, hasProxy: true}, err
}

// syscallsPerRoundTrip runs l against each proxy once per run,
// interleaved, with its system calls counted over the measured phase,
// and writes the count by name of each run into the working directory.
// These runs are apart from the throughput runs: tracing costs the proxy
// CPU time, which must not show in the other rows.
func (b *bench) syscallsPerRoundTrip(r *row, l load) {
	tool, ok, reason := findSyscallTool(b.opts.syscalls)
	if !ok {
		b.notes = append(b.notes, reason)
		return
	}
	if tool.name == "strace" {
		b.notes = append(b.notes, "syscalls per round trip: counted with strace -f (perf is not installed); the proxies ran traced, so only the count means anything in those runs")
	}
	proxies := b.proxies()
	for run := range b.opts.runs {
		for i := range proxies {
			t := proxies[(i+run)%len(proxies)]
			base := fmt.Sprintf("syscalls-%s-run%d", t.name, run+1)
			c := newSyscallCounter(tool, t.proc, b.dir, base)
			res, err := b.runLoad(t.plainURL, l, c)
			if err != nil {
				fmt.Fprintf(os.Stderr, "wsbench: workload 1 (syscalls), %s: %v\n", t.name, err)
				continue
			}
			total, _ := c.counts()
			r.add(t.name, perRoundTrip(total, res.MessagesMeasured))
			report := syscallBreakdown(c, t.name, res.MessagesMeasured)
			if err := os.WriteFile(filepath.Join(b.dir, base+".txt"), []byte(report), 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "wsbench: %v\n", err)
			}
			fmt.Fprintf(os.Stderr, "wsbench: workload 1 run %d %-7s %.2f syscalls/round trip (%s)\n",
				run+1, t.name, perRoundTrip(total, res.MessagesMeasured), topSyscalls(c, res.MessagesMeasured, 4))
		}
	}
	b.notes = append(b.notes, fmt.Sprintf("syscalls by name, per target and run: %s/syscalls-*.txt (kept with -keep or -dir)", b.dir))
}

// wssVersusPlain runs the load over wss and over ws against wsedge (and
// over wss against the other proxies, for reference), interleaved.
func (b *bench) wssVersusPlain(r *row, l load) {
	for run := range b.opts.runs {
		for _, t := range b.proxies() {
			tl := l
			tl.tls = true
			if res, err := b.runLoad(t.tlsURL, tl, nil); err == nil {
				r.add(t.name, res.MsgsPerSec)
			} else {
				fmt.Fprintf(os.Stderr, "wsbench: workload 6, %s: %v\n", t.name, err)
			}
			if t.name == "wsedge" {
				if res, err := b.runLoad(t.plainURL, l, nil); err == nil {
					r.add("wsedge-plain", res.MsgsPerSec)
				}
			}
		}
		fmt.Fprintf(os.Stderr, "wsbench: workload 6 run %d done\n", run+1)
	}
}

// idleMemory opens the idle connections through each proxy, plain and
// TLS, and records the growth of its resident memory per connection.
func (b *bench) idleMemory(plain, tls *row) {
	for run := range b.opts.runs {
		for _, t := range b.proxies() {
			for _, mode := range []struct {
				r   *row
				tls bool
			}{{plain, false}, {tls, true}} {
				kib, err := b.idleRSS(t, mode.tls)
				if err != nil {
					fmt.Fprintf(os.Stderr, "wsbench: workload 4, %s: %v\n", t.name, err)
					continue
				}
				mode.r.add(t.name, kib)
				fmt.Fprintf(os.Stderr, "wsbench: workload 4 run %d %-7s tls=%v %.1f KiB/conn\n", run+1, t.name, mode.tls, kib)
			}
		}
	}
}

// idleSettle is how long the held connections sit before memory is read,
// the same for every target, so that each is measured idle rather than
// mid-handshake: wsedge gives back the memory the burst of handshakes
// left behind a second or two after it ends (see proxy/reclaim.go).
const idleSettle = 5 * time.Second

func (b *bench) idleRSS(t *target, tls bool) (float64, error) {
	n := b.opts.idle
	if err := t.proc.restart(t.plainURL); err != nil {
		return 0, err
	}
	baseFiles := t.proc.steadyOpenFiles()
	baseRSS := t.proc.rssKiB()
	l := load{mode: "idle", conns: n, size: 64, duration: 10 * time.Minute, tls: tls, extra: []string{"-ramp", "4000"}}
	h, err := startHeldLoad(b.wsload, l.args(t.url(tls)))
	if err != nil {
		return 0, err
	}
	defer func() {
		h.stop(15 * time.Second)
		waitFor(time.Minute, func() bool { return t.proc.openFiles() <= baseFiles+16 })
	}()
	// Each proxied connection holds two descriptors, one per leg.
	if !waitFor(2*time.Minute, func() bool { return t.proc.openFiles() >= baseFiles+2*n || h.exited() }) || h.exited() {
		return 0, fmt.Errorf("only %d of %d connections opened", (t.proc.openFiles()-baseFiles)/2, n)
	}
	time.Sleep(idleSettle)
	return float64(t.proc.rssKiB()-baseRSS) / float64(n), nil
}

var allocsRE = regexp.MustCompile(`BenchmarkPump/(\S+)/64B-\d+\s+\d+\s+[\d.]+ ns/op.*?\s([\d.]+) allocs/op`)

// allocationsRow runs the pump micro-benchmark for its allocations per
// forwarded message (workload 7), one figure per direction.
func allocationsRow() *row {
	r := newRow("7", "steady-state forwarding, 64 B", "allocs/msg", true, goal{bound: 0})
	out, err := exec.Command("go", "test", "-run", "XXX", "-bench", "Pump/.*/64B", "-benchtime", "200000x", "-benchmem", "./proxy").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "wsbench: workload 7: %v\n%s", err, out)
		return r
	}
	for _, m := range allocsRE.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		r.add("wsedge "+m[1], v)
	}
	return r
}
