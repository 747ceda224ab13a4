// The proxy's CPU time over a wsload run's measured phase, from /proc.
// Divided by the round trips of that phase it is steadier than
// throughput on a shared machine: a neighbour that steals cycles slows
// every process down, but barely changes what one round trip costs.

package main

import (
	"fmt"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// which Linux fixes at 100 for user space whatever the kernel's HZ. Ten
// milliseconds per read and process is the resolution: under 1 % of the
// CPU time a proxy spends in a run of a few seconds.
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time (user and system, all threads) that the
// process and its children (nginx's workers) have used so far. Threads
// that have exited are included: the kernel adds their time to their
// process's.
func (p *process) cpuTime() (time.Duration, error) {
	var total time.Duration
	for _, pid := range p.pids() {
		fields, err := statFields(pid)
		if err != nil {
			return 0, fmt.Errorf("cpu time of %s (pid %d): %w", p.name, pid, err)
		}
		t, err := cpuTimeOf(fields)
		if err != nil {
			return 0, fmt.Errorf("cpu time of %s (pid %d): %w", p.name, pid, err)
		}
		total += t
	}
	return total, nil
}

// cpuTimeOf is utime + stime (fields 14 and 15 of proc(5)) from the
// fields statFieldsOf returns, which start at field 3.
func cpuTimeOf(fields []string) (time.Duration, error) {
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("/proc stat line has %d fields after the name, want more than %d", len(fields), stime)
	}
	var ticks int64
	for _, f := range []string{fields[utime], fields[stime]} {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat cpu time %q: %w", f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// cpuMeter is a phaseMeter: the CPU time a proxy used during the
// measured phase.
type cpuMeter struct {
	proc   *process
	before time.Duration
	used   time.Duration // valid after phaseEnd
}

var _ phaseMeter = (*cpuMeter)(nil)

func (m *cpuMeter) prepare() error {
	m.before, m.used = 0, 0
	return nil
}

func (m *cpuMeter) phaseStart() error {
	t, err := m.proc.cpuTime()
	m.before = t
	return err
}

func (m *cpuMeter) phaseEnd() error {
	t, err := m.proc.cpuTime()
	m.used = t - m.before
	return err
}

func (m *cpuMeter) finish() error { return nil }
