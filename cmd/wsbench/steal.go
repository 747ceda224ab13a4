package main

import (
	"os"
	"strconv"
	"strings"
)

// cpuTimes are the machine's CPU time counters from /proc/stat, in
// clock ticks summed over the CPUs.
type cpuTimes struct {
	steal, total int64
	idle         int64 // idle and iowait
}

func readCPUTimes() cpuTimes {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var t cpuTimes
	for i, f := range fields[1:] {
		n, _ := strconv.ParseInt(f, 10, 64)
		if i < 8 {
			t.total += n
		}
		if i == 7 {
			t.steal = n
		}
		if i == 3 || i == 4 {
			t.idle += n
		}
	}
	return t
}

// stealMeter accumulates the share of CPU time the hypervisor took while
// loads ran: on a shared virtual machine, a run with much steal measures
// the neighbours, not the targets.
type stealMeter struct {
	steal, total int64
}

// measure runs run and returns the steal during it, in percent.
func (m *stealMeter) measure(run func()) float64 {
	before := readCPUTimes()
	run()
	after := readCPUTimes()
	steal, total := after.steal-before.steal, after.total-before.total
	m.steal += steal
	m.total += total
	if total == 0 {
		return 0
	}
	return 100 * float64(steal) / float64(total)
}

func (m *stealMeter) percent() float64 {
	if m.total == 0 {
		return 0
	}
	return 100 * float64(m.steal) / float64(m.total)
}
