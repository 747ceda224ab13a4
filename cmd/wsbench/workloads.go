package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// row is one line of the report: a metric measured on some targets, with
// the goal it is held to.
type row struct {
	id, workload, metric string
	values               map[string][]float64 // by target name, one per run
	lowerIsBetter        bool
	goals                []goal
}

// goal compares wsedge's median to a reference: another target's median
// times factor, or a fixed bound when ref is "".
type goal struct {
	ref    string // "direct", "nginx", "wsedge-plain" or "" for a bound
	factor float64
	bound  float64
}

func newRow(id, workload, metric string, lower bool, goals ...goal) *row {
	return &row{id: id, workload: workload, metric: metric, values: map[string][]float64{}, lowerIsBetter: lower, goals: goals}
}

func (r *row) add(target string, v float64) { r.values[target] = append(r.values[target], v) }

// runWorkloads runs every selected workload and returns the report rows.
func (b *bench) runWorkloads() []*row {
	var rows []*row
	want := func(n string) bool { return b.opts.only == "" || strings.Contains(","+b.opts.only+",", ","+n+",") }
	d := b.opts.duration
	if want("1") {
		r := newRow("1", "100 conns, 64 B echo, plain", "msgs/s", false, goal{ref: "direct", factor: 0.65}, goal{ref: "nginx", factor: 1.15})
		b.interleave(r, load{mode: "echo", conns: 100, size: 64, duration: d}, false, func(x loadResult) float64 { return x.MsgsPerSec })
		rows = append(rows, r)
	}
	if want("2") {
		r := newRow("2", "10 conns, 64 KiB echo, plain", "MB/s", false, goal{ref: "direct", factor: 0.85}, goal{ref: "nginx", factor: 1.2})
		b.interleave(r, load{mode: "echo", conns: 10, size: 64 << 10, duration: d}, false, func(x loadResult) float64 { return x.MBPerSec })
		rows = append(rows, r)
	}
	if want("3") {
		p50 := newRow("3", "1 conn, 64 B round trip", "p50 µs", true, goal{ref: "nginx", factor: 1})
		p99 := newRow("3", "1 conn, 64 B round trip", "p99 µs", true, goal{ref: "nginx", factor: 1})
		b.interleaveMany([]*row{p50, p99}, load{mode: "echo", conns: 1, size: 64, duration: d}, false,
			func(x loadResult) []float64 { return []float64{x.Latency.P50, x.Latency.P99} })
		rows = append(rows, p50, p99)
	}
	if want("4") {
		plain := newRow("4", fmt.Sprintf("%d idle proxied conns, plain", b.opts.idle), "RSS KiB/conn", true, goal{ref: "nginx", factor: 0.7}, goal{bound: 12})
		tls := newRow("4", fmt.Sprintf("%d idle proxied conns, TLS", b.opts.idle), "RSS KiB/conn", true, goal{ref: "nginx", factor: 0.7})
		b.idleMemory(plain, tls)
		rows = append(rows, plain, tls)
	}
	if want("5") {
		// nginx 1.22 with OpenSSL 3.0 cannot do the post-quantum hybrid
		// Go prefers, so the comparison offers both proxies X25519; the
		// second row is what a client offering Go's default gets.
		r := newRow("5", "new wss connections (TLS + upgrade + dial), X25519", "conns/s", false, goal{ref: "nginx", factor: 1.2})
		hs := load{mode: "handshake", conns: 4, size: 64, duration: d, tls: true, extra: []string{"-curves", "x25519"}}
		b.interleaveProxies(r, hs, func(x loadResult) float64 { return x.HandshakesPerSec })
		pq := newRow("5", "new wss connections, client offers X25519MLKEM768 (info)", "conns/s", false)
		hs.extra = nil
		b.interleaveProxies(pq, hs, func(x loadResult) float64 { return x.HandshakesPerSec })
		rows = append(rows, r, pq)
	}
	if want("6") {
		r := newRow("6", "wss, 100 conns, 64 B echo", "msgs/s", false, goal{ref: "wsedge-plain", factor: 0.8})
		b.wssVersusPlain(r, load{mode: "echo", conns: 100, size: 64, duration: d})
		rows = append(rows, r)
	}
	if want("7") {
		rows = append(rows, allocationsRow())
	}
	return rows
}

// interleave runs l against every target once per run, rotating the
// order from run to run so no target always goes first.
func (b *bench) interleave(r *row, l load, tls bool, metric func(loadResult) float64) {
	b.interleaveMany([]*row{r}, l, tls, func(x loadResult) []float64 { return []float64{metric(x)} })
}

func (b *bench) interleaveMany(rows []*row, l load, tls bool, metrics func(loadResult) []float64) {
	for run := range b.opts.runs {
		for i := range b.targets {
			t := b.targets[(i+run)%len(b.targets)]
			url := t.plainURL
			if tls {
				url = t.tlsURL
			}
			res, err := b.runLoad(url, l)
			if err != nil {
				fmt.Fprintf(os.Stderr, "wsbench: workload %s, %s: %v\n", rows[0].id, t.name, err)
				continue
			}
			for j, v := range metrics(res) {
				rows[j].add(t.name, v)
			}
			fmt.Fprintf(os.Stderr, "wsbench: workload %s run %d %-7s %v\n", rows[0].id, run+1, t.name, metrics(res))
		}
	}
}

// interleaveProxies is interleave over the targets with a TLS listener.
func (b *bench) interleaveProxies(r *row, l load, metric func(loadResult) float64) {
	saved := b.targets
	var proxies []*target
	for _, t := range saved {
		if t.tlsURL != "" {
			proxies = append(proxies, t)
		}
	}
	b.targets = proxies
	b.interleave(r, l, true, metric)
	b.targets = saved
}

// wssVersusPlain runs the load over wss and over ws against wsedge (and
// over wss against nginx, for reference), interleaved.
func (b *bench) wssVersusPlain(r *row, l load) {
	for run := range b.opts.runs {
		for _, t := range b.targets {
			if t.tlsURL == "" {
				continue
			}
			tl := l
			tl.tls = true
			if res, err := b.runLoad(t.tlsURL, tl); err == nil {
				r.add(t.name, res.MsgsPerSec)
			} else {
				fmt.Fprintf(os.Stderr, "wsbench: workload 6, %s: %v\n", t.name, err)
			}
			if t.name == "wsedge" {
				if res, err := b.runLoad(t.plainURL, l); err == nil {
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
		for _, t := range b.targets {
			if t.proc == nil {
				continue
			}
			for _, mode := range []struct {
				r   *row
				url string
				tls bool
			}{{plain, t.plainURL, false}, {tls, t.tlsURL, true}} {
				kib, err := b.idleRSS(t, mode.url, mode.tls)
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
// so the proxy is measured idle rather than mid-handshake.
const idleSettle = 3 * time.Second

func (b *bench) idleRSS(t *target, url string, tls bool) (float64, error) {
	n := b.opts.idle
	if err := t.proc.restart(t.plainURL); err != nil {
		return 0, err
	}
	baseRSS, baseFiles := t.proc.rssKiB(), t.proc.openFiles()
	stop, err := b.startLoad(url, load{mode: "idle", conns: n, size: 64, duration: 10 * time.Minute, tls: tls, extra: []string{"-ramp", "4000"}})
	if err != nil {
		return 0, err
	}
	defer func() {
		stop()
		waitFor(time.Minute, func() bool { return t.proc.openFiles() <= baseFiles+16 })
	}()
	// Each proxied connection holds two descriptors, one per leg.
	if !waitFor(2*time.Minute, func() bool { return t.proc.openFiles() >= baseFiles+2*n }) {
		return 0, fmt.Errorf("only %d of %d connections opened", (t.proc.openFiles()-baseFiles)/2, n)
	}
	time.Sleep(idleSettle)
	return float64(t.proc.rssKiB()-baseRSS) / float64(n), nil
}

// waitFor polls cond every 100ms until it holds or limit passes.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

var allocsRE = regexp.MustCompile(`BenchmarkPump/(\S+)/64B-\d+\s+\d+\s+[\d.]+ ns/op.*?\s([\d.]+) allocs/op`)

// allocationsRow runs the pump micro-benchmark for its allocations per
// forwarded message (workload 7), one figure per direction.
func allocationsRow() *row {
	r := newRow("7", "steady-state forwarding, 64 B", "allocs/msg", true, goal{bound: 1})
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
