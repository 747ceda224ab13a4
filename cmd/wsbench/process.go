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
	cmd            *exec.Cmd
	done           chan struct{}
}

// startProcess starts bin with args, logging to dir/name.log.
func startProcess(dir, name, bin string, args ...string) (*process, error) {
	p := &process{name: name, dir: dir, bin: bin, args: args}
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

// stop sends SIGTERM (SIGQUIT for nginx: a graceful stop) and waits,
// killing after a few seconds.
func (p *process) stop() {
	sig := syscall.SIGTERM
	if p.name == "nginx" {
		sig = syscall.SIGQUIT
	}
	p.cmd.Process.Signal(sig)
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
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name is in parentheses and may hold spaces.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 2 {
		return -1
	}
	n, _ := strconv.Atoi(fields[1])
	return n
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
