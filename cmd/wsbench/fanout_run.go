// One run of a fanout scenario: its wsedge instances, members and
// publisher, and its phases, each measured over a window and checked for
// losses once its last messages have arrived.

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Phase modes.
const (
	modeThroughput = "throughput" // the publisher as fast as the room takes it
	modeLatency    = "latency"    // the publisher at a fixed rate
)

// maxProfile bounds a CPU profile: the admin client times out at 30 s.
const maxProfile = 20 * time.Second

// fanoutRun is one run of a scenario.
type fanoutRun struct {
	f        *fanout
	scenario fanoutScenario
	repeat   int  // from 1
	last     bool // the scenario's last run
	dir      string

	split    []int // members per instance
	probe    deliveryCheck
	phases   []*fanoutPhase
	metrics  []map[string]float64 // each instance's wsedge_cluster_* at the end
	nats     natsVarz             // what NATS counted during the run
	profiles []string             // CPU profile files
	err      error                // why the run stopped short, if it did

	edges   []*fanoutEdge
	members []*fanoutMember
	pub     *fanoutPublisher
}

// fanoutPhase is one load of a run: its measured window and its check.
type fanoutPhase struct {
	mode     string
	size     int
	rate     float64        // msgs/s, latency phases
	from, to fanoutCounters // the measured window; to.at is zero if it was cut short
	steal    float64        // percent, over the window
	rssKiB   []int64        // each instance's, at the window's end
	latency  latencySummary // the timed messages', latency phases
	check    deliveryCheck  // over the whole phase, warm-up included
	// edgeLatency is latency for the members of each instance.
	edgeLatency []latencySummary
}

// label names the phase in the report.
func (ph *fanoutPhase) label() string {
	if ph.mode == modeLatency {
		return fmt.Sprintf("%s %d B @ %g/s", ph.mode, ph.size, ph.rate)
	}
	return fmt.Sprintf("%s %d B", ph.mode, ph.size)
}

// fanoutCounters are the run's counters at one instant.
type fanoutCounters struct {
	at        time.Time
	sent      int64
	writeWait time.Duration   // the publisher's, in writes
	delivered []int64         // to the members of each instance
	edgeCPU   []time.Duration // each instance's process
	natsCPU   time.Duration   // 0 if the scenario does not use NATS
	ownCPU    time.Duration   // this process: the members and the publisher
	machine   cpuTimes        // the whole machine's
}

// deliveryCheck is what the members got of what was published.
type deliveryCheck struct {
	published int64 // messages
	members   int
	delivered int64 // deliveries counted
	perEdge   []int64
	lost      int64 // deliveries that never came
	gaps      int64 // sequence numbers a member skipped
	reordered int64 // deliveries out of order, or twice
	malformed int64
}

func (c deliveryCheck) String() string {
	return fmt.Sprintf("%d of %d deliveries (%d messages × %d members), %d lost, %d skipped, %d out of order or twice, %d malformed",
		c.delivered, c.published*int64(c.members), c.published, c.members, c.lost, c.gaps, c.reordered, c.malformed)
}

// execute starts the scenario's instances, connects the members and the
// publisher, checks that a first message reaches every member, runs
// every phase, and reads the instances' metrics.
func (r *fanoutRun) execute(ctx context.Context) error {
	o, sc := r.f.opts, r.scenario
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	natsURL := ""
	var varzBefore natsVarz
	if sc.cluster {
		natsURL = r.f.nats.url
		var err error
		if varzBefore, err = r.f.nats.varz(ctx); err != nil {
			return err
		}
	}
	edges, err := startEdges(r.dir, r.f.wsedgeBin, sc, o.members, natsURL)
	if err != nil {
		return err
	}
	defer stopEdges(edges)
	r.edges = edges
	r.split = splitMembers(o.members, sc.instances)
	var urls []string
	var assign []int
	for i, e := range edges {
		urls = append(urls, e.url)
		for range r.split[i] {
			assign = append(assign, i)
		}
	}
	epoch := time.Now()
	if r.members, err = connectMembers(ctx, urls, assign, epoch); err != nil {
		return err
	}
	defer closeMembers(r.members)
	if r.pub, err = connectPublisher(ctx, edges[0].url, epoch); err != nil {
		return err
	}
	defer r.pub.close()

	// A first message must reach every member: across instances, that
	// is the cluster working at all.
	start := r.marks()
	if err := r.pub.send(make([]byte, fanoutHeaderLen)); err != nil {
		return err
	}
	if r.probe = r.settle(ctx, start); r.probe.lost > 0 {
		return fmt.Errorf("the first message did not reach every member: %v per instance of %v", r.probe.perEdge, r.split)
	}

	for _, size := range o.sizes {
		if err := r.phase(ctx, &fanoutPhase{mode: modeThroughput, size: size}); err != nil {
			return err
		}
		for _, rate := range o.rates {
			if err := r.phase(ctx, &fanoutPhase{mode: modeLatency, size: size, rate: rate}); err != nil {
				return err
			}
		}
	}
	if sc.cluster {
		for _, e := range edges {
			m, err := e.clusterMetrics(ctx)
			if err != nil {
				return err
			}
			r.metrics = append(r.metrics, m)
		}
		after, err := r.f.nats.varz(ctx)
		if err != nil {
			return err
		}
		r.nats = after.sub(varzBefore)
	}
	return nil
}

// phase runs ph: the publisher starts, the window is measured after the
// warm-up, the publisher stops, and the phase's deliveries are checked
// once the last ones have arrived. It returns the publisher's error, or
// ctx's.
func (r *fanoutRun) phase(ctx context.Context, ph *fanoutPhase) error {
	o := r.f.opts
	fmt.Fprintf(os.Stderr, "wsbench fanout: %s, repeat %d: %s\n", r.scenario.name(), r.repeat, ph.label())
	r.phases = append(r.phases, ph)
	start := r.marks()
	pubCtx, stop := context.WithCancel(ctx)
	published := make(chan error, 1)
	go func() { published <- r.publish(pubCtx, ph) }()
	if pause(ctx, o.warmup) == nil {
		r.pub.timed.Store(ph.mode == modeLatency)
		ph.from = r.counters()
		profiled := r.startProfiles(ctx, ph)
		ph.steal = r.f.steal.measure(func() { pause(ctx, o.duration) })
		if ctx.Err() == nil {
			ph.to = r.counters()
		}
		r.pub.timed.Store(false)
		for _, e := range r.edges {
			ph.rssKiB = append(ph.rssKiB, e.proc.rssKiB())
		}
		profiled()
	}
	stop()
	err := <-published
	ph.check = r.settle(ctx, start)
	if ph.mode == modeLatency {
		byEdge := make([][]time.Duration, len(r.edges))
		for _, m := range r.members {
			byEdge[m.edge] = append(byEdge[m.edge], m.takeSamples()...)
		}
		ph.latency = summarizeLatency(slices.Concat(byEdge...))
		for _, samples := range byEdge {
			ph.edgeLatency = append(ph.edgeLatency, summarizeLatency(samples))
		}
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

// publish is the publisher's load in ph until ctx ends.
func (r *fanoutRun) publish(ctx context.Context, ph *fanoutPhase) error {
	if ph.mode == modeLatency {
		return r.pub.pace(ctx, ph.size, ph.rate)
	}
	return r.pub.flood(ctx, ph.size)
}

// startProfiles takes CPU profiles of every instance over the window of
// the first throughput phase of the scenario's last run, with -pprof;
// the returned function waits for them.
func (r *fanoutRun) startProfiles(ctx context.Context, ph *fanoutPhase) (wait func()) {
	o := r.f.opts
	if !o.pprof || !r.last || ph.mode != modeThroughput || ph.size != o.sizes[0] {
		return func() {}
	}
	d := max(min(o.duration, maxProfile), time.Second)
	taken := make([]string, len(r.edges))
	var wg sync.WaitGroup
	for i, e := range r.edges {
		file := filepath.Join(r.f.dir, fmt.Sprintf("cpu-%s-%s.pprof", r.scenario.id, e.name))
		wg.Go(func() {
			if err := e.profile(ctx, d, file); err != nil {
				fmt.Fprintf(os.Stderr, "wsbench fanout: %v\n", err)
				return
			}
			taken[i] = file
		})
	}
	return func() {
		wg.Wait()
		for _, file := range taken {
			if file != "" {
				r.profiles = append(r.profiles, file)
			}
		}
	}
}

// counters reads the run's counters now.
func (r *fanoutRun) counters() fanoutCounters {
	c := fanoutCounters{at: time.Now(), sent: r.pub.sent.Load(), writeWait: r.pub.waited(),
		delivered: make([]int64, len(r.edges)), ownCPU: ownCPUTime(), machine: readCPUTimes()}
	for _, m := range r.members {
		c.delivered[m.edge] += m.received.Load()
	}
	for _, e := range r.edges {
		t, _ := e.proc.cpuTime()
		c.edgeCPU = append(c.edgeCPU, t)
	}
	if r.scenario.cluster {
		c.natsCPU, _ = r.f.nats.proc.cpuTime()
	}
	return c
}

// memberMarks are the members' counters and the publisher's at the start
// of a phase.
type memberMarks struct {
	sent                                 int64
	received, gaps, reordered, malformed []int64
}

func (r *fanoutRun) marks() memberMarks {
	mk := memberMarks{sent: r.pub.sent.Load()}
	for _, m := range r.members {
		mk.received = append(mk.received, m.received.Load())
		mk.gaps = append(mk.gaps, m.gaps.Load())
		mk.reordered = append(mk.reordered, m.reordered.Load())
		mk.malformed = append(mk.malformed, m.malformed.Load())
	}
	return mk
}

// settle waits until every member has got every message published since
// start, or until fanoutSettle passes without one more delivery, and
// checks what they got.
func (r *fanoutRun) settle(ctx context.Context, start memberMarks) deliveryCheck {
	published := r.pub.sent.Load() - start.sent
	want := published * int64(len(r.members))
	got := func() int64 {
		var n int64
		for i, m := range r.members {
			n += m.received.Load() - start.received[i]
		}
		return n
	}
	last, changed := got(), time.Now()
	tick := time.NewTicker(pollInterval / 10)
	defer tick.Stop()
	for n := last; n < want && time.Since(changed) < fanoutSettle; n = got() {
		if n != last {
			last, changed = n, time.Now()
		}
		select {
		case <-ctx.Done():
			return r.check(start, published)
		case <-tick.C:
		}
	}
	return r.check(start, published)
}

// check counts what each member got since start of published messages.
func (r *fanoutRun) check(start memberMarks, published int64) deliveryCheck {
	c := deliveryCheck{published: published, members: len(r.members), perEdge: make([]int64, len(r.edges))}
	for i, m := range r.members {
		got := m.received.Load() - start.received[i]
		c.delivered += got
		c.perEdge[m.edge] += got
		c.lost += max(published-got, 0)
		c.gaps += m.gaps.Load() - start.gaps[i]
		c.reordered += m.reordered.Load() - start.reordered[i]
		c.malformed += m.malformed.Load() - start.malformed[i]
	}
	return c
}

// latencyOf is the latency of instance i's members; -1: every member's.
func (ph *fanoutPhase) latencyOf(i int) latencySummary {
	if i < 0 || i >= len(ph.edgeLatency) {
		if i < 0 {
			return ph.latency
		}
		return latencySummary{}
	}
	return ph.edgeLatency[i]
}

// latencySummary sums up the latencies of a phase's timed deliveries.
type latencySummary struct {
	count         int
	p50, p99, max time.Duration
}

// summarizeLatency sorts samples and reads their percentiles.
func summarizeLatency(samples []time.Duration) latencySummary {
	slices.Sort(samples)
	return latencySummary{count: len(samples),
		p50: nearestRank(samples, 50), p99: nearestRank(samples, 99), max: nearestRank(samples, 100)}
}
