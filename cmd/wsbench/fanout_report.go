// The fanout's report: a table of medians per phase and scenario, the
// comparison the issue asks for, and a check of every run's deliveries
// with the cluster's metrics and NATS's counters.

package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Figures of one measured window. A window cut short (to.at zero) has
// none: its phase is left out of the medians.

func (ph *fanoutPhase) measured() bool { return !ph.to.at.IsZero() && ph.to.at.After(ph.from.at) }

func (ph *fanoutPhase) seconds() float64 { return ph.to.at.Sub(ph.from.at).Seconds() }

// deliveredOn is the deliveries to instance i's members in the window;
// -1 is every instance's.
func (ph *fanoutPhase) deliveredOn(i int) int64 {
	var n int64
	for j := range ph.to.delivered {
		if i < 0 || i == j {
			n += ph.to.delivered[j] - ph.from.delivered[j]
		}
	}
	return n
}

// cpuOf is instance i's CPU time in the window; -1 is every instance's.
func (ph *fanoutPhase) cpuOf(i int) time.Duration {
	var t time.Duration
	for j := range ph.to.edgeCPU {
		if i < 0 || i == j {
			t += ph.to.edgeCPU[j] - ph.from.edgeCPU[j]
		}
	}
	return t
}

func (ph *fanoutPhase) deliveredPerSecond() float64 {
	return float64(ph.deliveredOn(-1)) / ph.seconds()
}

func (ph *fanoutPhase) publishedPerSecond() float64 {
	return float64(ph.to.sent-ph.from.sent) / ph.seconds()
}

// share is d in percent of the window: of one core, for CPU time.
func (ph *fanoutPhase) share(d time.Duration) float64 {
	return 100 * d.Seconds() / ph.seconds()
}

// othersCPU is the CPU time the machine was busy in the window
// (neither idle nor stolen) but not in the processes measured: other
// processes (a shared machine's other work) and the kernel's softirq
// time, which Linux accounts to no process. /proc/stat counts in clock
// ticks summed over the CPUs.
func (ph *fanoutPhase) othersCPU() time.Duration {
	a, b := ph.from.machine, ph.to.machine
	busy := time.Duration((b.total-a.total)-(b.idle-a.idle)-(b.steal-a.steal)) * clockTick
	measured := ph.cpuOf(-1) + (ph.to.natsCPU - ph.from.natsCPU) + (ph.to.ownCPU - ph.from.ownCPU)
	return max(busy-measured, 0)
}

// cpuPer1k is instance i's CPU time in milliseconds per 1,000
// deliveries to its own members; -1: every instance's over every
// delivery.
func (ph *fanoutPhase) cpuPer1k(i int) float64 {
	n := ph.deliveredOn(i)
	if n == 0 {
		return 0
	}
	return float64(ph.cpuOf(i).Milliseconds()) / (float64(n) / 1000)
}

// fanoutRow is one phase of one scenario over its runs.
type fanoutRow struct {
	label    string
	scenario fanoutScenario
	phases   []*fanoutPhase // those measured
	lost     int64          // over every run's phase, measured or not
}

// med is the median of fig over the row's phases.
func (row *fanoutRow) med(fig func(*fanoutPhase) float64) float64 {
	var vs []float64
	for _, ph := range row.phases {
		vs = append(vs, fig(ph))
	}
	return median(vs)
}

// perEdge is the median of fig for every instance (-1) and, with
// several, for each one: "total (a/b/c)".
func (row *fanoutRow) perEdge(format string, fig func(ph *fanoutPhase, i int) float64) string {
	if len(row.phases) == 0 {
		return ""
	}
	total := fmt.Sprintf(format, row.med(func(ph *fanoutPhase) float64 { return fig(ph, -1) }))
	if row.scenario.instances == 1 {
		return total
	}
	var each []string
	for i := range row.scenario.instances {
		each = append(each, fmt.Sprintf(format, row.med(func(ph *fanoutPhase) float64 { return fig(ph, i) })))
	}
	return total + " (" + strings.Join(each, "/") + ")"
}

// fanoutRows groups the runs' phases by phase and scenario, in the order
// of the options.
func fanoutRows(o fanoutOptions, runs []*fanoutRun) []*fanoutRow {
	var labels []string
	for _, size := range o.sizes {
		labels = append(labels, (&fanoutPhase{mode: modeThroughput, size: size}).label())
		for _, rate := range o.rates {
			labels = append(labels, (&fanoutPhase{mode: modeLatency, size: size, rate: rate}).label())
		}
	}
	var rows []*fanoutRow
	for _, label := range labels {
		for _, sc := range o.scenarioList() {
			row := &fanoutRow{label: label, scenario: sc}
			for _, r := range runs {
				if r.scenario.id != sc.id {
					continue
				}
				for _, ph := range r.phases {
					if ph.label() != label {
						continue
					}
					row.lost += ph.check.lost
					if ph.measured() {
						row.phases = append(row.phases, ph)
					}
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// report renders the setting, the table of medians, the comparison of
// the scenarios and the check of every run.
func (f *fanout) report(runs []*fanoutRun) string {
	o := f.opts
	var b strings.Builder
	b.WriteString(machineLines())
	if f.nats != nil {
		fmt.Fprintf(&b, "nats: %s\n", f.nats.about())
	}
	b.WriteString(fanoutSetting(o))
	fmt.Fprintf(&b, "cpu steal during the measured windows: %.1f%% (time the hypervisor gave to other guests)\n", f.steal.percent())
	rows := fanoutRows(o, runs)
	b.WriteString(fanoutTable(rows))
	b.WriteString(fanoutComparison(o, rows))
	b.WriteString(fanoutChecks(runs))
	for _, r := range runs {
		for _, p := range r.profiles {
			fmt.Fprintf(&b, "CPU profile (%s, %s): %s\n", r.scenario.name(), modeThroughput, p)
		}
	}
	return b.String()
}

// fanoutSetting says what was measured and how.
func fanoutSetting(o fanoutOptions) string {
	var b strings.Builder
	var where []string
	for _, sc := range o.scenarioList() {
		split := splitMembers(o.members, sc.instances)
		desc := "no cluster section"
		if sc.cluster {
			desc = "a cluster section, one NATS server"
		}
		if sc.instances > 1 {
			where = append(where, fmt.Sprintf("%q: members split %s over %d wsedge instances, %s, the publisher on edge-1", sc.name(), joinInts(split, "/"), sc.instances, desc))
		} else {
			where = append(where, fmt.Sprintf("%q: every member and the publisher on one wsedge, %s", sc.name(), desc))
		}
	}
	fmt.Fprintf(&b, "setup: 1 publisher and %d members in one room of the broadcast built-in (echo_self off: every delivery counted is a member's), ws:// on loopback, default broadcast.member_queue; %s; each run starts its wsedge processes afresh; all processes share the machine's %d cores\n",
		o.members, strings.Join(where, "; "), runtime.NumCPU())
	var rates []string
	for _, r := range o.rates {
		rates = append(rates, fmt.Sprintf("%g msgs/s (%g deliveries/s)", r, r*float64(o.members)))
	}
	fmt.Fprintf(&b, "phases for each size (%s B): throughput (the publisher back to back; wsedge stops reading it while members' queues are full), then latency at %s; each: %v warm-up, %v measured, then up to %v without a delivery for the last ones, and what is still missing is lost\n",
		joinInts(o.sizes, ", "), strings.Join(rates, ", "), o.warmup, o.duration, fanoutSettle)
	fmt.Fprintf(&b, "runs: %d per scenario, alternating (ABBA); medians of the runs; latency: from the publisher's clock before its write to the member's after its read (one process, one monotonic clock), nearest-rank over every delivery of the window's messages\n", o.repeats)
	b.WriteString("CPU % is of one core over the window; per instance as total (edge-1/edge-2/...); ms/1k deliveries is an instance's CPU time per 1,000 deliveries to its own members (total: every instance over every delivery); publisher blocked: share of the window its writes waited on wsedge; wsbench: this process, the members' readers and the publisher; other: the machine's busy time outside these processes (other work on a shared machine, and the kernel's softirq time for loopback, which no process is charged for)\n")
	return b.String()
}

// fanoutTable is the table of medians, one line per phase and scenario.
func fanoutTable(rows []*fanoutRow) string {
	var b strings.Builder
	b.WriteString("\n| phase | scenario | runs | delivered msgs/s | published msgs/s | publisher blocked % | p50 ms | p99 ms | max ms | wsedge CPU % | wsedge CPU ms/1k deliveries | NATS CPU % | wsbench CPU % | other CPU % | steal % | wsedge RSS MiB | lost |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range rows {
		cells := []string{row.label, row.scenario.name(), fmt.Sprint(len(row.phases))}
		if len(row.phases) == 0 {
			cells = append(cells, slices.Repeat([]string{""}, 13)...)
			cells = append(cells, fmt.Sprint(row.lost))
			fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
			continue
		}
		latency := []string{"", "", ""}
		if strings.HasPrefix(row.label, modeLatency) {
			latency = nil
			for _, pick := range []func(latencySummary) time.Duration{
				func(l latencySummary) time.Duration { return l.p50 },
				func(l latencySummary) time.Duration { return l.p99 },
				func(l latencySummary) time.Duration { return l.max },
			} {
				latency = append(latency, row.perEdge("%.2f", func(ph *fanoutPhase, i int) float64 {
					return float64(pick(ph.latencyOf(i))) / float64(time.Millisecond)
				}))
			}
		}
		nats := ""
		if row.scenario.cluster {
			nats = fmt.Sprintf("%.1f", row.med(func(ph *fanoutPhase) float64 { return ph.share(ph.to.natsCPU - ph.from.natsCPU) }))
		}
		cells = append(cells,
			format(row.med((*fanoutPhase).deliveredPerSecond)),
			format(row.med((*fanoutPhase).publishedPerSecond)),
			fmt.Sprintf("%.0f", row.med(func(ph *fanoutPhase) float64 { return ph.share(ph.to.writeWait - ph.from.writeWait) })))
		cells = append(cells, latency...)
		cells = append(cells,
			row.perEdge("%.0f", func(ph *fanoutPhase, i int) float64 { return ph.share(ph.cpuOf(i)) }),
			row.perEdge("%.2f", (*fanoutPhase).cpuPer1k),
			nats,
			fmt.Sprintf("%.0f", row.med(func(ph *fanoutPhase) float64 { return ph.share(ph.to.ownCPU - ph.from.ownCPU) })),
			fmt.Sprintf("%.0f", row.med(func(ph *fanoutPhase) float64 { return ph.share(ph.othersCPU()) })),
			fmt.Sprintf("%.1f", row.med(func(ph *fanoutPhase) float64 { return ph.steal })),
			row.perEdge("%.0f", func(ph *fanoutPhase, i int) float64 { return rssMiB(ph.rssKiB, i) }),
			fmt.Sprint(row.lost))
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	return b.String()
}

// rssMiB is instance i's RSS in MiB, or every instance's (-1).
func rssMiB(kib []int64, i int) float64 {
	var n int64
	for j, v := range kib {
		if i < 0 || i == j {
			n += v
		}
	}
	return float64(n) / 1024
}

// fanoutComparison sets the cluster scenario against one instance, phase
// by phase, and states issue 12's figures.
func fanoutComparison(o fanoutOptions, rows []*fanoutRow) string {
	find := func(label, id string) *fanoutRow {
		for _, row := range rows {
			if row.label == label && row.scenario.id == id && len(row.phases) > 0 {
				return row
			}
		}
		return nil
	}
	var b strings.Builder
	b.WriteString("\n")
	var issue []string
	for _, row := range rows {
		if row.scenario.id != scenarioCluster {
			continue
		}
		base := find(row.label, scenarioLocal)
		if base == nil || len(row.phases) == 0 {
			continue
		}
		name, one := row.scenario.name(), base.scenario.name()
		if strings.HasPrefix(row.label, modeThroughput) {
			got, want := row.med((*fanoutPhase).deliveredPerSecond), base.med((*fanoutPhase).deliveredPerSecond)
			cpu, cpuBase := row.med(func(ph *fanoutPhase) float64 { return ph.cpuPer1k(-1) }), base.med(func(ph *fanoutPhase) float64 { return ph.cpuPer1k(-1) })
			fmt.Fprintf(&b, "%s: %s deliver %s msgs/s, %.2fx %s's %s; wsedge CPU per delivery %.2fx\n",
				row.label, name, format(got), got/want, one, format(want), cpu/cpuBase)
			issue = append(issue, fmt.Sprintf("%s msgs/s delivered at %d B (%s: %s)", format(got), sizeOf(row), one, format(want)))
			continue
		}
		p99 := func(ph *fanoutPhase) float64 { return float64(ph.latency.p99) }
		p50 := func(ph *fanoutPhase) float64 { return float64(ph.latency.p50) }
		fmt.Fprintf(&b, "%s: p99 %s ms on %s, %s ms on %s (p50 %s ms, %s ms)\n", row.label,
			ms(time.Duration(row.med(p99))), name, ms(time.Duration(base.med(p99))), one,
			ms(time.Duration(row.med(p50))), ms(time.Duration(base.med(p50))))
		issue = append(issue, fmt.Sprintf("p99 %s ms at %g msgs/s of %d B (%s: %s ms)",
			ms(time.Duration(row.med(p99))), row.phases[0].rate, sizeOf(row), one, ms(time.Duration(base.med(p99)))))
	}
	if len(issue) > 0 {
		fmt.Fprintf(&b, "\nissue 12: cross-instance fan-out, 1 publisher, %d members over %d instances: %s\n", o.members, o.instances, strings.Join(issue, "; "))
	}
	return b.String()
}

func sizeOf(row *fanoutRow) int { return row.phases[0].size }

// fanoutChecks is every run's delivery check, with what the cluster's
// metrics and NATS counted.
func fanoutChecks(runs []*fanoutRun) string {
	var b strings.Builder
	b.WriteString("\ndeliveries per run (every phase, warm-up and first message included); cluster metrics at the end of the run, per instance: published / received / dropped (by reason when any); edge-1 should publish every message and every other instance receive each\n")
	b.WriteString("\n| scenario | run | messages published | deliveries | lost | skipped | out of order | wsedge_cluster_messages_* published / received / dropped | NATS msgs in / out | NATS slow consumers | error |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range runs {
		c := r.totalCheck()
		nats, slow := "", ""
		if r.scenario.cluster && r.err == nil {
			nats, slow = fmt.Sprintf("%d / %d", r.nats.InMsgs, r.nats.OutMsgs), fmt.Sprint(r.nats.SlowConsumers)
		}
		errText := ""
		if r.err != nil {
			errText = strings.ReplaceAll(r.err.Error(), "|", "/")
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d of %d | %d | %d | %d | %s | %s | %s | %s |\n",
			r.scenario.name(), r.repeat, c.published, c.delivered, c.published*int64(c.members), c.lost, c.gaps, c.reordered,
			clusterCells(r), nats, slow, errText)
	}
	return b.String()
}

// totalCheck sums the run's checks: the first message's and every
// phase's.
func (r *fanoutRun) totalCheck() deliveryCheck {
	t := r.probe
	for _, ph := range r.phases {
		c := ph.check
		t.published += c.published
		t.delivered += c.delivered
		t.lost += c.lost
		t.gaps += c.gaps
		t.reordered += c.reordered
		t.malformed += c.malformed
		t.members = max(t.members, c.members)
	}
	return t
}

// clusterCells are each instance's published / received / dropped.
func clusterCells(r *fanoutRun) string {
	var out []string
	for i, m := range r.metrics {
		var dropped float64
		var reasons []string
		for _, k := range sortedMetricKeys(m) {
			if v := m[k]; strings.HasPrefix(k, "wsedge_cluster_messages_dropped_total") && v > 0 {
				dropped += v
				reason := strings.TrimPrefix(k, "wsedge_cluster_messages_dropped_total")
				reason = strings.TrimSuffix(strings.TrimPrefix(reason, `{reason="`), `"}`)
				reasons = append(reasons, fmt.Sprintf("%s %.0f", reason, v))
			}
		}
		cell := fmt.Sprintf("edge-%d %.0f / %.0f / %.0f", i+1, m["wsedge_cluster_messages_published_total"], m["wsedge_cluster_messages_received_total"], dropped)
		if len(reasons) > 0 {
			cell += " (" + strings.Join(reasons, ", ") + ")"
		}
		out = append(out, cell)
	}
	return strings.Join(out, "; ")
}

func sortedMetricKeys(m map[string]float64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func joinInts(vs []int, sep string) string {
	var s []string
	for _, v := range vs {
		s = append(s, fmt.Sprint(v))
	}
	return strings.Join(s, sep)
}
