package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a target or backend process started by wsbench.
type process struct {
	name, dir, bin string
	args           []string
	// stopSignal asks the process to stop gracefully: SIGTERM for Go
	// programs, SIGQUIT for nginx, SIGUSR1 (soft stop) for HAProxy.
	stopSignal syscall.Signal
	cmd        *exec.Cmd
	done       chan struct{}
}

// startProcess starts bin with args, logging to dir/name.log; stop sends
// it stopSignal.
func startProcess(dir, name string, stopSignal syscall.Signal, bin string, args ...string) (*process, error) {
	p := &process{name: name, dir: dir, bin: bin, args: args, stopSignal: stopSignal}
	return p, p.start()
}

func (p *process) start() error {
	logFile, err := os.OpenFile(filepath.Join(p.dir, p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	done := p.done
	go func() {
		cmd.Wait()
		logFile.Close()
		close(done)
	}()
	return nil
}

// restart stops the process and starts it again, so a measurement
// begins from a fresh process rather than from whatever the previous
// workloads left in its heap.
func (p *process) restart(listenURL string) error {
	p.stop()
	if err := p.start(); err != nil {
		return err
	}
	return waitListening(listenURL)
}

// stop sends the graceful stop signal and waits, killing after a few
// seconds (a soft-stopped HAProxy, for one, waits for every open
// connection).
func (p *process) stop() {
	p.cmd.Process.Signal(p.stopSignal)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// pids returns the process and its children (nginx's workers).
func (p *process) pids() []int {
	root := p.cmd.Process.Pid
	out := []int{root}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		if ppid(pid) == root {
			out = append(out, pid)
		}
	}
	return out
}

func ppid(pid int) int {
	fields, err := statFields(pid)
	if err != nil || len(fields) < 2 {
		return -1
	}
	n, _ := strconv.Atoi(fields[1])
	return n
}

// statFields returns the fields of /proc/PID/stat after the command name,
// so that fields[0] is field 3 of proc(5) (state), fields[1] field 4
// (ppid), and so on.
func statFields(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	return statFieldsOf(string(data)), nil
}

// statFieldsOf splits a /proc/PID/stat line. The command name is in
// parentheses and may hold spaces and parentheses: it ends at the last ')'.
func statFieldsOf(line string) []string {
	return strings.Fields(line[strings.LastIndexByte(line, ')')+1:])
}

// rssKiB is the resident memory of the process and its children.
func (p *process) rssKiB() int64 {
	var total int64
	for _, pid := range p.pids() {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				total += n
			}
		}
	}
	return total
}

// openFiles counts the file descriptors of the process and its children:
// a proxied connection holds two, one per leg.
func (p *process) openFiles() int {
	total := 0
	for _, pid := range p.pids() {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err == nil {
			total += len(entries)
		}
	}
	return total
}

// steadyOpenFiles is openFiles once it has held still for a few polls
// (or after a few seconds). Right after waitListening, the process may
// not have closed the probe connection yet: counted in a baseline, it
// would make the baseline one too high.
func (p *process) steadyOpenFiles() int {
	last, same := p.openFiles(), 0
	waitFor(5*time.Second, func() bool {
		n := p.openFiles()
		if n == last {
			same++
		} else {
			last, same = n, 0
		}
		return same >= 3
	})
	return last
}

// waitListening waits until something accepts TCP on rawURL's address.
func waitListening(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s: %w", u.Host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
