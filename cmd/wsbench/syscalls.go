// System calls per round trip: every system call a proxy's processes
// and threads make during wsload's measured phase, counted with perf's
// syscall tracepoints (or, failing perf, from an strace trace), divided
// by the round trips of the phase. The count by system call name goes
// into the working directory, to show where the total goes.

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// syscallCounter is a phaseMeter that counts a proxy's system calls.
type syscallCounter interface {
	phaseMeter
	// counts are the system calls of the last measured phase: the total
	// and the count by name.
	counts() (total uint64, byName map[string]uint64)
	// describe says how the counts were taken, for the breakdown file.
	describe() string
}

// syscallTool is the program counters are made with.
type syscallTool struct {
	name, path string
}

// findSyscallTool resolves -syscalls: "auto" is perf if installed, else
// strace; ok is false (with the reason) when no counting is possible.
func findSyscallTool(choice string) (tool syscallTool, ok bool, reason string) {
	var candidates []string
	switch choice {
	case "off":
		return tool, false, "syscalls per round trip: not counted (-syscalls off)"
	case "auto":
		candidates = []string{"perf", "strace"}
	default:
		candidates = []string{choice}
	}
	for _, name := range candidates {
		if path, err := exec.LookPath(name); err == nil {
			return syscallTool{name: name, path: path}, true, ""
		}
	}
	return tool, false, fmt.Sprintf("syscalls per round trip: skipped, %s not installed (apt-get install linux-perf or strace)", strings.Join(candidates, " or "))
}

// newSyscallCounter counts the system calls of proc with tool; its files
// (the tool's output and messages) are dir/base.*.
func newSyscallCounter(tool syscallTool, proc *process, dir, base string) syscallCounter {
	if tool.name == "strace" {
		return &straceCounter{bin: tool.path, proc: proc, out: filepath.Join(dir, base+".strace"), log: filepath.Join(dir, base+".log")}
	}
	return &perfCounter{bin: tool.path, proc: proc, dir: dir, base: base}
}

// perfCounter counts with perf stat on the tracepoints
// raw_syscalls:sys_enter (every system call: the total) and
// syscalls:sys_enter_* (one per system call: the breakdown), in one
// event group: perf switches separate events on and off one at a time,
// several hundred of them per thread, so the breakdown would cover a
// window some milliseconds later than the total; a group is switched
// through its leader, at once, and its counts add up to the total.
//
// Why perf stat -p counts every thread, including those started during
// the run: -p opens one counter per thread that exists when it attaches
// (it lists /proc/PID/task), with inherit set, so a thread created by a
// counted thread gets a counter of its own that the kernel adds into its
// parent's when it is read or when the thread exits. A Go program starts
// threads whenever a goroutine blocks in a system call or the scheduler
// needs one; nginx's workers are processes, each given with -p.
// TestPerfCountsThreadsStartedLater checks it: sixteen threads, most of
// them started after perf attached and all gone before the counts are
// read, make 20,000 getppid calls each, and perf counts all 320,000. The
// thread counts at the phase's start and end go into the breakdown.
//
// perf attaches before wsload starts, with its counters disabled (-D -1),
// and is switched on and off through its control FIFO at the phase
// marks, so neither attaching nor the connections' setup is counted.
// Detaching from some 350 tracepoints takes perf about ten seconds after
// the run; that is the price of the breakdown.
type perfCounter struct {
	bin       string
	proc      *process
	dir, base string // output files are dir/base.*

	cmd      *exec.Cmd
	done     chan struct{}
	ctl, ack *os.File
	acks     *bufio.Reader

	threadsAtStart, threadsAtEnd int
	total                        uint64
	byName                       map[string]uint64
}

var _ syscallCounter = (*perfCounter)(nil)

// perfAckWait bounds each perf control command; attaching several
// hundred tracepoints to every thread takes the first one a while.
const perfAckWait = 30 * time.Second

func (c *perfCounter) prepare() error {
	c.total, c.byName = 0, nil
	ctlPath, ackPath := filepath.Join(c.dir, c.base+".ctl"), filepath.Join(c.dir, c.base+".ack")
	var err error
	if c.ctl, err = openFIFO(ctlPath); err != nil {
		return err
	}
	if c.ack, err = openFIFO(ackPath); err != nil {
		c.ctl.Close()
		return err
	}
	c.acks = bufio.NewReader(c.ack)
	logFile, err := os.Create(filepath.Join(c.dir, c.base+".log"))
	if err != nil {
		c.closeFIFOs()
		return fmt.Errorf("perf log: %w", err)
	}
	c.cmd = exec.Command(c.bin, "stat", "-x,", "-o", filepath.Join(c.dir, c.base+".perf"),
		"-D", "-1", "--control", "fifo:"+ctlPath+","+ackPath,
		"-e", "{raw_syscalls:sys_enter,syscalls:sys_enter_*}", "-p", pidList(c.proc.pids()))
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	if err := c.cmd.Start(); err != nil {
		logFile.Close()
		c.closeFIFOs()
		return fmt.Errorf("start perf: %w", err)
	}
	c.done = make(chan struct{})
	go c.reap(logFile)
	// perf answers only once its counters are open (still disabled).
	if err := c.command("ping"); err != nil {
		c.finish()
		return err
	}
	return nil
}

// reap is the goroutine that waits for perf; finish waits for it.
func (c *perfCounter) reap(logFile *os.File) {
	c.cmd.Wait()
	logFile.Close()
	close(c.done)
}

func (c *perfCounter) phaseStart() error {
	c.threadsAtStart = threadCount(c.proc.pids())
	return c.command("enable")
}

func (c *perfCounter) phaseEnd() error {
	err := c.command("disable")
	c.threadsAtEnd = threadCount(c.proc.pids())
	return err
}

// perfExitWait bounds how long perf may take to print its counts and
// exit: unregistering its tracepoints takes it about ten seconds.
const perfExitWait = time.Minute

// finish stops perf (SIGINT makes it print its counts) and reads them.
func (c *perfCounter) finish() error {
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(perfExitWait):
		c.cmd.Process.Kill()
		<-c.done
	}
	c.closeFIFOs()
	data, err := os.ReadFile(filepath.Join(c.dir, c.base+".perf"))
	if err != nil {
		return fmt.Errorf("perf output: %w", err)
	}
	c.total, c.byName, err = parsePerfStat(string(data))
	return err
}

// command sends a control command to perf and waits for its "ack",
// checking every second that perf is still running (one refused the
// tracepoints exits at once, with its reason in the log).
func (c *perfCounter) command(cmd string) error {
	if _, err := c.ctl.WriteString(cmd + "\n"); err != nil {
		return fmt.Errorf("perf control %q: %w", cmd, err)
	}
	deadline := time.Now().Add(perfAckWait)
	for {
		if err := c.ack.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			return fmt.Errorf("perf control %q: %w", cmd, err)
		}
		line, err := c.acks.ReadString('\n')
		if err == nil {
			// perf writes the C string "ack\n" with its terminating NUL,
			// which therefore starts the next line read.
			if strings.Trim(line, "\x00\n") != "ack" {
				return fmt.Errorf("perf control %q: answered %q", cmd, line)
			}
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("perf control %q: perf exited (see %s.log)", cmd, c.base)
		default:
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Now().After(deadline) {
			return fmt.Errorf("perf control %q: no ack (see %s.log): %w", cmd, c.base, err)
		}
	}
}

func (c *perfCounter) closeFIFOs() {
	for _, f := range []*os.File{c.ctl, c.ack} {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	c.ctl, c.ack = nil, nil
}

func (c *perfCounter) counts() (uint64, map[string]uint64) { return c.total, c.byName }

func (c *perfCounter) describe() string {
	return fmt.Sprintf("perf stat -e '{raw_syscalls:sys_enter,syscalls:sys_enter_*}' -p %s (inherited counters: threads started later are counted); threads at the phase's start %d, at its end %d",
		pidList(c.proc.pids()), c.threadsAtStart, c.threadsAtEnd)
}

// openFIFO makes a named pipe and opens it for reading and writing, which
// never blocks (opening one end alone waits for the other) and lets perf
// open and close its end as it likes.
func openFIFO(path string) (*os.File, error) {
	os.Remove(path)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return nil, fmt.Errorf("mkfifo %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return f, nil
}

// parsePerfStat reads perf stat -x, output: count,unit,event,... per
// line. Events that were not counted have a non-numeric count.
func parsePerfStat(out string) (total uint64, byName map[string]uint64, err error) {
	byName = make(map[string]uint64)
	found := false
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Split(line, ",")
		if len(fields) < 3 {
			continue
		}
		n, perr := strconv.ParseUint(fields[0], 10, 64)
		if perr != nil {
			continue
		}
		switch event := fields[2]; {
		case event == "raw_syscalls:sys_enter":
			total, found = n, true
		case strings.HasPrefix(event, "syscalls:sys_enter_") && n > 0:
			byName[strings.TrimPrefix(event, "syscalls:sys_enter_")] = n
		}
	}
	if !found {
		return 0, nil, errors.New("perf stat counted no raw_syscalls:sys_enter")
	}
	return total, byName, nil
}

// straceCounter counts with strace -f -ttt: a trace of every system call
// with its entry time, from before wsload starts until after it ends, of
// which the calls that entered between the phase marks are counted.
// strace cannot be switched on and off, and attaching takes it a while:
// attached at the start of the phase, it would miss the round trips of
// its first moments, made at untraced speed. Traced throughout, the proxy
// runs at one (much slower) pace, and the window is cut by time stamps.
type straceCounter struct {
	bin      string
	proc     *process
	out, log string

	cmd      *exec.Cmd
	done     chan struct{}
	attached chan struct{} // closed once strace reports every -p process attached
	from, to time.Time     // the measured phase, by the marks

	total  uint64
	byName map[string]uint64
}

var _ syscallCounter = (*straceCounter)(nil)

// straceAttachWait bounds how long strace may take to attach.
const straceAttachWait = 30 * time.Second

func (c *straceCounter) prepare() error {
	c.total, c.byName, c.from, c.to = 0, nil, time.Time{}, time.Time{}
	pids := c.proc.pids()
	args := []string{"-f", "-ttt", "-o", c.out}
	for _, pid := range pids {
		args = append(args, "-p", strconv.Itoa(pid))
	}
	c.cmd = exec.Command(c.bin, args...)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("strace: %w", err)
	}
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start strace: %w", err)
	}
	c.done, c.attached = make(chan struct{}), make(chan struct{})
	go c.watch(bufio.NewScanner(stderr), len(pids))
	select {
	case <-c.attached:
		return nil
	case <-c.done:
		return fmt.Errorf("strace ended before attaching (see %s)", c.log)
	case <-time.After(straceAttachWait):
		c.stop()
		return fmt.Errorf("strace did not attach within %v (see %s)", straceAttachWait, c.log)
	}
}

// watch is the goroutine that copies strace's messages to the log,
// signals when every process is attached ("Process N attached [with M
// threads]", one line per -p), and reaps strace.
func (c *straceCounter) watch(lines *bufio.Scanner, processes int) {
	defer close(c.done)
	logFile, _ := os.Create(c.log)
	attached := 0
	for lines.Scan() {
		if logFile != nil {
			fmt.Fprintln(logFile, lines.Text())
		}
		if strings.Contains(lines.Text(), " attached") {
			if attached++; attached == processes {
				close(c.attached)
			}
		}
	}
	c.cmd.Wait()
	if logFile != nil {
		logFile.Close()
	}
}

func (c *straceCounter) phaseStart() error {
	c.from = time.Now()
	return nil
}

func (c *straceCounter) phaseEnd() error {
	c.to = time.Now()
	return nil
}

// finish detaches strace and counts the calls of the phase.
func (c *straceCounter) finish() error {
	c.stop()
	if c.from.IsZero() || c.to.IsZero() {
		return errors.New("strace: the measured phase was not marked")
	}
	trace, err := os.Open(c.out)
	if err != nil {
		return fmt.Errorf("strace output: %w", err)
	}
	defer trace.Close()
	c.total, c.byName, err = countStraceTrace(trace, c.from, c.to)
	return err
}

// stop detaches strace (SIGINT) and waits for it.
func (c *straceCounter) stop() {
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

func (c *straceCounter) counts() (uint64, map[string]uint64) { return c.total, c.byName }

func (c *straceCounter) describe() string {
	return fmt.Sprintf("strace -f -ttt -p %s, calls entered between the phase marks (perf is not installed: the proxy ran traced, several times slower)", pidList(c.proc.pids()))
}

// countStraceTrace counts the system calls of an strace -f -ttt trace
// that entered within [from, to]. A line is "PID SECONDS.MICROS
// name(args...": a call cut in two by another thread's shows as
// "name(... <unfinished ...>" then "<... name resumed>", counted once;
// signals ("--- SIGURG ...") and exits ("+++ exited ...") are not calls.
func countStraceTrace(trace io.Reader, from, to time.Time) (total uint64, byName map[string]uint64, err error) {
	byName = make(map[string]uint64)
	lines := bufio.NewScanner(trace)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		_, rest, _ := strings.Cut(lines.Text(), " ") // the thread id
		stamp, call, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
		name, _, isCall := strings.Cut(strings.TrimLeft(call, " "), "(")
		if !isCall || name == "" || strings.ContainsAny(name, " <-+") {
			continue
		}
		at, perr := strconv.ParseFloat(stamp, 64)
		if perr != nil {
			continue
		}
		if t := time.Unix(0, int64(at*1e9)); t.Before(from) || t.After(to) {
			continue
		}
		byName[name]++
		total++
	}
	if err := lines.Err(); err != nil {
		return 0, nil, fmt.Errorf("strace output: %w", err)
	}
	if total == 0 {
		return 0, nil, errors.New("strace traced no system calls in the measured phase")
	}
	return total, byName, nil
}

// pidList is pids as perf's -p wants them: comma-separated.
func pidList(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// threadCount is the number of threads of the processes pids.
func threadCount(pids []int) int {
	n := 0
	for _, pid := range pids {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err == nil {
			n += len(entries)
		}
	}
	return n
}

// syscallBreakdown renders the counts by name, most frequent first, per
// round trip and as a share of the total.
func syscallBreakdown(c syscallCounter, target string, roundTrips uint64) string {
	total, byName := c.counts()
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d system calls in %d round trips: %.2f per round trip\n", target, total, roundTrips, perRoundTrip(total, roundTrips))
	fmt.Fprintf(&b, "counted with %s\n\n", c.describe())
	fmt.Fprintf(&b, "%-24s %12s %12s %7s\n", "syscall", "calls", "per trip", "share")
	names := make([]string, 0, len(byName))
	var named uint64
	for name, n := range byName {
		names = append(names, name)
		named += n
	}
	sort.Slice(names, func(i, j int) bool {
		if byName[names[i]] != byName[names[j]] {
			return byName[names[i]] > byName[names[j]]
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		n := byName[name]
		fmt.Fprintf(&b, "%-24s %12d %12.3f %6.1f%%\n", name, n, perRoundTrip(n, roundTrips), 100*float64(n)/float64(max(total, 1)))
	}
	if total > named {
		// System calls without a tracepoint of their own.
		fmt.Fprintf(&b, "%-24s %12d %12.3f %6.1f%%\n", "(no tracepoint)", total-named, perRoundTrip(total-named, roundTrips), 100*float64(total-named)/float64(total))
	}
	return b.String()
}

// topSyscalls is the few most frequent system calls per round trip, for
// the progress line.
func topSyscalls(c syscallCounter, roundTrips uint64, n int) string {
	_, byName := c.counts()
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return byName[names[i]] > byName[names[j]] })
	var parts []string
	for _, name := range names[:min(n, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %.2f", name, perRoundTrip(byName[name], roundTrips)))
	}
	return strings.Join(parts, ", ")
}

func perRoundTrip(n, roundTrips uint64) float64 {
	if roundTrips == 0 {
		return 0
	}
	return float64(n) / float64(roundTrips)
}
