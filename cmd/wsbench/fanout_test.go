package main

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsedge/wsedge/config"
)

func TestSplitMembers(t *testing.T) {
	for _, tc := range []struct {
		n, k int
		want []int
	}{
		{1000, 3, []int{334, 333, 333}},
		{1000, 1, []int{1000}},
		{10, 3, []int{4, 3, 3}},
		{11, 3, []int{4, 4, 3}},
		{3, 3, []int{1, 1, 1}},
	} {
		if got := splitMembers(tc.n, tc.k); !slices.Equal(got, tc.want) {
			t.Errorf("splitMembers(%d, %d) = %v, want %v", tc.n, tc.k, got, tc.want)
		}
	}
}

func TestSchedule(t *testing.T) {
	a, b := fanoutScenario{id: "a"}, fanoutScenario{id: "b"}
	var got []string
	for _, sc := range schedule([]fanoutScenario{a, b}, 3) {
		got = append(got, sc.id)
	}
	if want := []string{"a", "b", "b", "a", "a", "b"}; !slices.Equal(got, want) {
		t.Errorf("schedule: got %v, want %v", got, want)
	}
}

func TestParseFanoutFlags(t *testing.T) {
	o, err := parseFanoutFlags(nil)
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if o.members != 1000 || o.instances != 3 || !slices.Equal(o.scenarios, []string{scenarioLocal, scenarioCluster}) || !o.needsNATS() {
		t.Errorf("defaults: %+v, want 1000 members, 3 instances, local and cluster", o)
	}
	if o, _ := parseFanoutFlags([]string{"-pprof"}); !o.keep {
		t.Error("-pprof does not keep the working directory, where the profiles are")
	}
	for name, args := range map[string][]string{
		"one instance":        {"-instances", "1"},
		"fewer members":       {"-members", "2"},
		"size under a header": {"-size", "64,8"},
		"rate zero":           {"-rates", "0"},
		"unknown scenario":    {"-scenarios", "local,mesh"},
		"scenario twice":      {"-scenarios", "local,local"},
		"unknown nats":        {"-nats", "docker"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseFanoutFlags(args); err == nil {
				t.Errorf("%q: accepted", args)
			}
		})
	}
}

func TestFanoutMessage(t *testing.T) {
	buf := make([]byte, 64)
	want := fanoutMessage{seq: 1<<40 + 7, sent: 1234567 * time.Microsecond, timed: true}
	want.encode(buf)
	got, ok := decodeFanoutMessage(buf)
	if !ok || got != want {
		t.Errorf("decode(encode(%+v)) = %+v, %v", want, got, ok)
	}
	(fanoutMessage{seq: 2}).encode(buf) // an untimed message over a timed one
	if got, _ := decodeFanoutMessage(buf); got.timed {
		t.Error("the timed flag outlived a message without it")
	}
	if _, ok := decodeFanoutMessage(buf[:fanoutHeaderLen-1]); ok {
		t.Error("a message shorter than a header decoded")
	}
}

func TestMemberCheck(t *testing.T) {
	m := &fanoutMember{}
	for _, seq := range []uint64{0, 1, 2, 5, 4, 6, 6} {
		m.check(seq)
	}
	if g, r := m.gaps.Load(), m.reordered.Load(); g != 2 || r != 2 {
		t.Errorf("0 1 2 5 4 6 6: %d skipped, %d out of order or twice; want 2 (3 and 4) and 2 (4 late, 6 twice)", g, r)
	}
}

func TestSummarizeLatency(t *testing.T) {
	var samples []time.Duration
	for i := 1; i <= 1000; i++ {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	rand.Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] })
	got := summarizeLatency(samples)
	want := latencySummary{count: 1000, p50: 500 * time.Millisecond, p99: 990 * time.Millisecond, max: time.Second}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := summarizeLatency(nil); got != (latencySummary{}) {
		t.Errorf("no samples: got %+v, want zeros", got)
	}
}

// testPhase is a measured window of 10 s in which each instance of a
// run delivered perEdge messages and spent cpu.
func testPhase(mode string, size int, rate float64, perEdge []int64, cpu []time.Duration) *fanoutPhase {
	at := time.Unix(1000, 0)
	ph := &fanoutPhase{mode: mode, size: size, rate: rate, steal: 1,
		from: fanoutCounters{at: at, delivered: make([]int64, len(perEdge)), edgeCPU: make([]time.Duration, len(perEdge))},
		to: fanoutCounters{at: at.Add(10 * time.Second), sent: 1000, writeWait: 5 * time.Second, delivered: perEdge, edgeCPU: cpu, natsCPU: time.Second, ownCPU: 4 * time.Second,
			// Two CPUs for 10 s, 17.8 s of it busy.
			machine: cpuTimes{total: 2000, idle: 200, steal: 20}},
	}
	for range perEdge {
		ph.rssKiB = append(ph.rssKiB, 20<<10)
	}
	if mode == modeLatency {
		ph.latency = latencySummary{count: 1000, p50: time.Millisecond, p99: 4 * time.Millisecond, max: 9 * time.Millisecond}
		for i := range perEdge {
			d := time.Duration(i) * time.Millisecond // the farther instances slower
			ph.edgeLatency = append(ph.edgeLatency, latencySummary{count: 1000 / len(perEdge), p50: ph.latency.p50 + d, p99: ph.latency.p99 + d, max: ph.latency.max + d})
		}
	}
	return ph
}

func TestFanoutPhaseFigures(t *testing.T) {
	ph := testPhase(modeThroughput, 64, 0, []int64{400_000, 300_000, 300_000}, []time.Duration{2 * time.Second, time.Second, 1500 * time.Millisecond})
	for name, tc := range map[string]struct{ got, want float64 }{
		"delivered/s":              {ph.deliveredPerSecond(), 100_000},
		"published/s":              {ph.publishedPerSecond(), 100},
		"blocked %":                {ph.share(ph.to.writeWait - ph.from.writeWait), 50},
		"CPU % of edge-1":          {ph.share(ph.cpuOf(0)), 20},
		"CPU % of all":             {ph.share(ph.cpuOf(-1)), 45},
		"ms/1k of all":             {ph.cpuPer1k(-1), 4.5},
		"ms/1k of edge-1":          {ph.cpuPer1k(0), 5},
		"ms/1k of edge-3":          {ph.cpuPer1k(2), 5},
		"RSS MiB of all":           {rssMiB(ph.rssKiB, -1), 60},
		"RSS MiB of edge-2":        {rssMiB(ph.rssKiB, 1), 20},
		"ms/1k without delivery":   {testPhase(modeThroughput, 64, 0, []int64{0}, []time.Duration{time.Second}).cpuPer1k(-1), 0},
		"median of the row's runs": {(&fanoutRow{phases: []*fanoutPhase{ph, ph, testPhase(modeThroughput, 64, 0, []int64{1}, []time.Duration{0})}}).med((*fanoutPhase).deliveredPerSecond), 100_000},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", name, tc.got, tc.want)
		}
	}
	// Busy 17.8 s, of which wsedge 4.5, NATS 1 and wsbench 4.
	if got, want := ph.othersCPU(), 8300*time.Millisecond; got != want {
		t.Errorf("others' CPU: got %v, want %v", got, want)
	}
}

// testRuns are a run of each default scenario with a throughput and a
// latency phase; the cluster's loses lost deliveries in its latency phase.
func testRuns(o fanoutOptions, lost int64) []*fanoutRun {
	scs := o.scenarioList()
	local := &fanoutRun{scenario: scs[0], repeat: 1, probe: deliveryCheck{published: 1, members: 1000, delivered: 1000},
		phases: []*fanoutPhase{
			testPhase(modeThroughput, 64, 0, []int64{3_000_000}, []time.Duration{10 * time.Second}),
			testPhase(modeLatency, 64, 20, []int64{200_000}, []time.Duration{2 * time.Second}),
		}}
	cluster := &fanoutRun{scenario: scs[1], repeat: 1, probe: deliveryCheck{published: 1, members: 1000, delivered: 1000},
		phases: []*fanoutPhase{
			testPhase(modeThroughput, 64, 0, []int64{1_000_000, 1_000_000, 1_000_000}, []time.Duration{5 * time.Second, 4 * time.Second, 4 * time.Second}),
			testPhase(modeLatency, 64, 20, []int64{67_000, 67_000, 66_000}, []time.Duration{time.Second, time.Second, time.Second}),
		},
		metrics: []map[string]float64{
			{"wsedge_cluster_messages_published_total": 1201},
			{"wsedge_cluster_messages_received_total": 1201},
			{"wsedge_cluster_messages_received_total": 1200, `wsedge_cluster_messages_dropped_total{reason="slow_consumer"}`: 1},
		},
		nats: natsVarz{InMsgs: 1201, OutMsgs: 2401}}
	cluster.phases[1].check = deliveryCheck{published: 200, members: 1000, delivered: 200_000 - lost, lost: lost}
	return []*fanoutRun{local, cluster}
}

func TestFanoutReport(t *testing.T) {
	o, err := parseFanoutFlags([]string{"-size", "64", "-rates", "20", "-repeats", "1"})
	if err != nil {
		t.Fatal(err)
	}
	runs := testRuns(o, 333)
	rows := fanoutRows(o, runs)
	out := fanoutTable(rows) + fanoutComparison(o, rows) + fanoutChecks(runs)
	for _, want := range []string{
		"| throughput 64 B | 1 instance | 1 | 300000 | 100.0 | 50 |  |  |  | 100 | 3.33 |  | 40 | 28 | 1.0 | 20 | 0 |",
		"| throughput 64 B | 3 instances | 1 | 300000 | 100.0 | 50 |  |  |  | 130 (50/40/40) | 4.33 (5.00/4.00/4.00) | 10.0 | 40 | 0 | 1.0 | 60 (20/20/20) | 0 |",
		"| latency 64 B @ 20/s | 1 instance | 1 | 20000 | 100.0 | 50 | 1.00 | 4.00 | 9.00 | 20 |",
		"| latency 64 B @ 20/s | 3 instances | 1 | 20000 | 100.0 | 50 | 1.00 (1.00/2.00/3.00) | 4.00 (4.00/5.00/6.00) | 9.00 (9.00/10.00/11.00) | 30 (10/10/10) |",
		" | 333 |\n",
		"throughput 64 B: 3 instances deliver 300000 msgs/s, 1.00x 1 instance's 300000; wsedge CPU per delivery 1.30x",
		"latency 64 B @ 20/s: p99 4.00 ms on 3 instances, 4.00 ms on 1 instance",
		"issue 12: cross-instance fan-out, 1 publisher, 1000 members over 3 instances: 300000 msgs/s delivered at 64 B (1 instance: 300000); p99 4.00 ms at 20 msgs/s of 64 B (1 instance: 4.00 ms)",
		`edge-1 1201 / 0 / 0; edge-2 0 / 1201 / 0; edge-3 0 / 1200 / 1 (slow_consumer 1) | 1201 / 2401 | 0 |`,
		"| 3 instances | 1 | 201 | 200667 of 201000 | 333 | 0 | 0 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(fanoutTable(rows), "\n") {
		if strings.HasPrefix(line, "|") && strings.Count(line, "|") != 18 {
			t.Errorf("%d cells in %q, want 17", strings.Count(line, "|")-1, line)
		}
	}
	failed := fanoutFailures(runs)
	if len(failed) != 1 || !strings.Contains(failed[0], "3 instances, repeat 1, latency 64 B @ 20/s: ") || !strings.Contains(failed[0], "333 lost") {
		t.Errorf("failures %q, want the cluster's latency phase with 333 lost", failed)
	}
	if failed := fanoutFailures(testRuns(o, 0)); len(failed) != 0 {
		t.Errorf("failures %q without a loss", failed)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP wsedge_cluster_messages_published_total Broadcast messages this instance published.
# TYPE wsedge_cluster_messages_published_total counter
wsedge_cluster_messages_published_total 1201
wsedge_cluster_messages_dropped_total{reason="disconnected"} 0
wsedge_cluster_messages_dropped_total{reason="slow_consumer"} 3
wsedge_connections_open 12
wsedge_cluster_connected 1
`
	want := map[string]float64{
		"wsedge_cluster_messages_published_total":                       1201,
		`wsedge_cluster_messages_dropped_total{reason="disconnected"}`:  0,
		`wsedge_cluster_messages_dropped_total{reason="slow_consumer"}`: 3,
		"wsedge_cluster_connected":                                      1,
	}
	got := parseMetrics(text, "wsedge_cluster_")
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestFanoutConfigIsValid loads the configurations the fanout writes
// with wsedge's own loader.
func TestFanoutConfigIsValid(t *testing.T) {
	for _, nats := range []string{"", "nats://127.0.0.1:4222"} {
		text := fanoutConfig(18080, "127.0.0.1:19090", 1000, nats, "edge-2")
		f, err := config.Parse("wsedge.yaml", []byte(text), t.TempDir())
		if err != nil {
			t.Errorf("does not load:\n%v\n%s", err, text)
			continue
		}
		if len(f.Routes) != 1 || f.Routes[0].Handler != "broadcast" || f.Routes[0].Broadcast == nil || *f.Routes[0].Broadcast.EchoSelf {
			t.Errorf("want one broadcast route with echo_self off:\n%s", text)
		}
		if f.Limits.MaxConnections < 1001 {
			t.Errorf("max_connections %d: no room for 1000 members and the publisher", f.Limits.MaxConnections)
		}
		if got := f.Cluster.Enabled(); got != (nats != "") || (got && f.Cluster.Instance != "edge-2") {
			t.Errorf("nats %q: cluster %+v", nats, f.Cluster)
		}
	}
}

// TestMain lets the test binary stand in for wsbench as the fanout's
// embedded NATS server (os.Executable is the test binary).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "nats-server" {
		os.Exit(runNATSServer(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// TestFanout runs both scenarios, small and short, against wsedge built
// from this repository and the embedded NATS server: every member must
// get every message, across instances too. Timing is not checked.
func TestFanout(t *testing.T) {
	t.Chdir("../..") // wsbench builds wsedge from the repository root
	o, err := parseFanoutFlags([]string{"-members", "10", "-repeats", "1", "-duration", "300ms", "-warmup", "100ms",
		"-size", "64", "-rates", "50", "-nats", "embedded", "-dir", t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fanout{opts: o}
	if err := f.start(); err != nil {
		f.close()
		t.Fatal(err)
	}
	runs := f.run(context.Background())
	f.close()
	report := f.report(runs)
	if failed := fanoutFailures(runs); len(failed) > 0 {
		t.Fatalf("%q\n%s", failed, report)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2\n%s", len(runs), report)
	}
	for _, r := range runs {
		c := r.totalCheck()
		if len(r.phases) != 2 || c.delivered != c.published*10 || c.published < 3 {
			t.Errorf("%s: %d phases, %s; want 2 and every message to each of 10 members\n%s", r.scenario.name(), len(r.phases), c, report)
		}
		for _, ph := range r.phases {
			if !ph.measured() {
				t.Errorf("%s, %s: no measured window\n%s", r.scenario.name(), ph.label(), report)
			}
		}
		if !r.scenario.cluster {
			continue
		}
		if got := r.metrics[0]["wsedge_cluster_messages_published_total"]; got != float64(c.published) {
			t.Errorf("edge-1 published %v to the cluster, want %d\n%s", got, c.published, report)
		}
		for i, m := range r.metrics[1:] {
			if got := m["wsedge_cluster_messages_received_total"]; got != float64(c.published) {
				t.Errorf("edge-%d received %v from the cluster, want %d\n%s", i+2, got, c.published, report)
			}
		}
	}
	if !strings.Contains(report, "issue 12: ") || !strings.Contains(report, "nats: nats-server ") {
		t.Errorf("no summary or NATS line in the report:\n%s", report)
	}
}
