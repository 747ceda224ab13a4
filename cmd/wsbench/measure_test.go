// Tests of what wsbench reads from /proc, perf, strace, wsload's phase
// marks and wsedge's debug endpoint.

package main

import (
	"maps"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/wstest"
)

func TestCPUTimeOfStatLine(t *testing.T) {
	// A command name with a space and a parenthesis, as a process may
	// choose; utime 250 and stime 50 ticks.
	line := "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 1170 0 0 0 250 50 0 0 20 0 3 0 12345 1000000 300 18446744073709551615"
	got, err := cpuTimeOf(statFieldsOf(line))
	if err != nil || got != 3*time.Second {
		t.Errorf("cpuTimeOf = %v, %v; want 3s", got, err)
	}
	if _, err := cpuTimeOf(statFieldsOf("1 (x) S 0 1")); err == nil {
		t.Error("a short stat line: want an error")
	}
}

// TestCPUMeterSeesABusyProcess measures a shell that spins, from its
// start until it has used some CPU.
func TestCPUMeterSeesABusyProcess(t *testing.T) {
	p, err := startProcess(t.TempDir(), "spin", syscall.SIGTERM, "/bin/sh", "-c", "while :; do :; done")
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	m := &cpuMeter{proc: p}
	if err := m.prepare(); err != nil {
		t.Fatal(err)
	}
	if err := m.phaseStart(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { used, _ := p.cpuTime(); return used-m.before >= 100*time.Millisecond }) {
		t.Fatal("the spinning shell used under 100ms of CPU in 10s")
	}
	if err := m.phaseEnd(); err != nil {
		t.Fatal(err)
	}
	if m.used < 100*time.Millisecond {
		t.Errorf("measured %v, want at least 100ms", m.used)
	}
}

func TestParsePerfStat(t *testing.T) {
	out := `# started on Wed Dec  2 16:05:49 2026

900676,,raw_syscalls:sys_enter,1322313905,100.00,,
900000,,syscalls:sys_enter_getppid,1322313905,100.00,,Events disabled
0,,syscalls:sys_enter_read,1322313905,100.00,,
<not counted>,,syscalls:sys_enter_write,0,100.00,,
Events enabled
Events disabled
`
	total, byName, err := parsePerfStat(out)
	if err != nil || total != 900676 || !maps.Equal(byName, map[string]uint64{"getppid": 900000}) {
		t.Errorf("parsePerfStat = %d, %v, %v; want 900676 and getppid 900000", total, byName, err)
	}
	if _, _, err := parsePerfStat("<not counted>,,raw_syscalls:sys_enter,0,100.00,,\n"); err == nil {
		t.Error("nothing counted: want an error")
	}
}

func TestCountStraceTrace(t *testing.T) {
	trace := `4005  1796230543.026651 futex(0x5ab7c0, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>
4007  1796230543.100000 read(5, "abc", 512) = 3
4008  1796230543.200000 epoll_pwait(4,  <unfinished ...>
4007  1796230543.200100 write(6, "abc", 3) = 3
4008  1796230543.300000 <... epoll_pwait resumed>[{events=EPOLLIN, data={u32=5, u64=5}}], 128, -1, NULL, 0) = 1
4007  1796230543.300100 --- SIGURG {si_signo=SIGURG, si_code=SI_TKILL, si_pid=4005, si_uid=0} ---
4007  1796230543.300200 rt_sigreturn({mask=[]}) = 3
4010  1796230543.400000 +++ exited with 0 +++
4007  1796230543.900000 read(5, "abc", 512) = 3
`
	from, to := time.Unix(1796230543, 50e6), time.Unix(1796230543, 500e6)
	total, byName, err := countStraceTrace(strings.NewReader(trace), from, to)
	want := map[string]uint64{"read": 1, "epoll_pwait": 1, "write": 1, "rt_sigreturn": 1}
	if err != nil || total != 4 || !maps.Equal(byName, want) {
		t.Errorf("countStraceTrace = %d, %v, %v; want 4 and %v", total, byName, err, want)
	}
	if _, _, err := countStraceTrace(strings.NewReader(trace), to.Add(time.Hour), to.Add(2*time.Hour)); err == nil {
		t.Error("nothing in the window: want an error")
	}
}

// recordingMeter is a phaseMeter that records its calls.
type recordingMeter struct{ calls []string }

func (m *recordingMeter) prepare() error    { m.calls = append(m.calls, "prepare"); return nil }
func (m *recordingMeter) phaseStart() error { m.calls = append(m.calls, "start"); return nil }
func (m *recordingMeter) phaseEnd() error   { m.calls = append(m.calls, "end"); return nil }
func (m *recordingMeter) finish() error     { m.calls = append(m.calls, "finish"); return nil }

func TestFollowPhase(t *testing.T) {
	for _, tc := range []struct {
		name, marks string
		want        string // calls
		wantErr     bool
	}{
		{name: "whole run", marks: "start\nend\n", want: "start,end"},
		{name: "cut short", marks: "start\n", want: "start", wantErr: true},
		{name: "nothing", marks: "", want: "", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &recordingMeter{}
			err := followPhase(strings.NewReader(tc.marks), m)
			if got := strings.Join(m.calls, ","); got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("calls %q, error %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseGoroutineTotal(t *testing.T) {
	n, err := parseGoroutineTotal("goroutine profile: total 20012\n3 @ 0x1 0x2\n")
	if err != nil || n != 20012 {
		t.Errorf("got %d, %v; want 20012", n, err)
	}
	if _, err := parseGoroutineTotal("<html>404</html>"); err == nil {
		t.Error("not a goroutine profile: want an error")
	}
}

func TestParseMemStats(t *testing.T) {
	// The end of a real heap profile (runtime/pprof's writeHeapInternal).
	profile := `heap profile: 1: 2 [3: 4] @ heap/1048576
1: 2 [3: 4] @ 0x1
#	0x745d45	os/signal.NotifyContext+0x125	/usr/local/go/src/os/signal/signal.go:291

# runtime.MemStats
# Alloc = 453328
# HeapInuse = 4202496
# Stack = 1048576 / 1081344
# MSpan = 34560 / 48960
# PauseNs = [29294 0 0]
# NumGC = 7
`
	got, err := parseMemStats(profile, "HeapInuse", "StackInuse")
	if err != nil || got["HeapInuse"] != 4202496 || got["StackInuse"] != 1048576 || got["StackSys"] != 1081344 || got["NumGC"] != 7 {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := parseMemStats(profile, "HeapIdle"); err == nil || !strings.Contains(err.Error(), "HeapIdle") {
		t.Errorf("a missing figure: got %v, want an error naming it", err)
	}
}

func TestParseHardFileLimit(t *testing.T) {
	limits := `Limit                     Soft Limit           Hard Limit           Units
Max processes             95664                95664                processes
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
`
	if n, err := parseHardFileLimit(limits); err != nil || n != 20000 {
		t.Errorf("got %d, %v; want 20000", n, err)
	}
	if n, err := parseHardFileLimit(strings.Replace(limits, "20000                files", "65536                files", 1)); err != nil || n != 65536 {
		t.Errorf("hard apart from soft: got %d, %v; want 65536", n, err)
	}
	if _, err := parseHardFileLimit("Max processes 1 1 processes\n"); err == nil {
		t.Error("no open-file line: want an error")
	}
}

func TestIdleSteps(t *testing.T) {
	steps, err := parseIdleSteps("5000, max,1000,2500")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := resolveSteps(steps, 9900); err != nil || !slices.Equal(got, []int{1000, 2500, 5000, 9900}) {
		t.Errorf("resolveSteps = %v, %v; want [1000 2500 5000 9900]", got, err)
	}
	if got, err := resolveSteps(steps, 5000); err != nil || !slices.Equal(got, []int{1000, 2500, 5000}) {
		t.Errorf("max equal to a step: got %v, %v; want it once", got, err)
	}
	if _, err := resolveSteps(steps, 4000); err == nil || !strings.Contains(err.Error(), "step 5000") {
		t.Errorf("a step above the maximum: got %v, want an error naming it", err)
	}
	for _, bad := range []string{"", "0", "1000,lots", "-5"} {
		if _, err := parseIdleSteps(bad); err == nil {
			t.Errorf("parseIdleSteps(%q): want an error", bad)
		}
	}
}

func TestIdleScaleFlags(t *testing.T) {
	o, err := parseIdleScaleFlags([]string{"-plain", "-steps", "1000,max", "-sources", "2"})
	if err != nil || !o.plain || len(o.steps) != 2 || !o.steps[1].max || o.sources != 2 || o.perProcess != 2500 {
		t.Errorf("got %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"-steps", "lots"}, {"-per-process", "0"}, {"-sources", "0"}, {"-ramp", "0"}, {"extra"}} {
		if _, err := parseIdleScaleFlags(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
	if got := strings.Join(sourceAddrs(3), ","); got != "127.0.0.2,127.0.0.3,127.0.0.4" {
		t.Errorf("sourceAddrs(3) = %s", got)
	}
}

func TestIdleScaleReport(t *testing.T) {
	s := &idleScale{opts: idleScaleOptions{sources: 2}, maxNote: "max = 9942"}
	out := s.report([]idleFigures{
		{label: "baseline", rssKiB: 11 << 10, fds: 16, runtimeStats: runtimeStats{goroutines: 13, heapInuse: 1 << 20, stackInuse: 512 << 10}},
		{label: "1000", conns: 1000, rssKiB: 11<<10 + 20000, fds: 2016, runtimeStats: runtimeStats{goroutines: 13, heapInuse: 1<<20 + 9<<20, stackInuse: 800 << 10}},
		{label: "after close", rssKiB: 12 << 10, fds: 16, runtimeStats: runtimeStats{goroutines: 13, heapInuse: 1 << 20, stackInuse: 512 << 10}},
	})
	for _, want := range []string{
		"| step | connections | RSS MiB | RSS KiB/conn | heap MiB | heap KiB/conn | stack KiB total | goroutines | fds |",
		"| baseline | 0 | 11.0 |  | 1.0 |  | 512 | 13 | 16 |",
		"| 1000 | 1000 | 30.5 | 20.0 | 10.0 | 9.2 | 800 | 13 | 2016 |",
		"| after close | 0 | 12.0 |  | 1.0 |  | 512 | 13 | 16 |",
		"over wss:// (TLS) from 127.0.0.2,127.0.0.3",
		"max = 9942",
		"machine: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// lookTool finds a program the test needs. Where it is missing the test
// is skipped with a message, except in CI (CI=true), whose .ci/run
// installs it: there a missing tool fails the run.
func lookTool(t *testing.T, name, what string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	wstest.Unavailable(t, "%s is not installed: %s is not checked", name, what)
	return ""
}
