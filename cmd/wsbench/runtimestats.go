// What wsedge's runtime profiles (admin.pprof: net/http/pprof) tell about its
// memory and goroutines, and its open-file limit from /proc.

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// runtimeStats are the Go runtime's figures that explain an idle
// connection's cost.
type runtimeStats struct {
	goroutines int
	heapInuse  uint64 // bytes in heap spans in use, after a collection
	stackInuse uint64 // bytes of goroutine stacks
}

// debugClient reads wsedge's debug endpoint at addr (host:port).
type debugClient struct {
	addr   string
	client *http.Client
}

// newDebugClient's requests each use a connection of their own, closed
// after it: a kept-alive one would be a descriptor of wsedge's counted as
// if a proxied connection held it.
func newDebugClient(addr string) *debugClient {
	return &debugClient{addr: addr, client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}}
}

// stats reads the goroutine count and the heap figures. The heap
// profile is asked for with gc=1: a collection first, so HeapInuse is
// what the connections keep, not garbage waiting for the next cycle.
func (d *debugClient) stats(ctx context.Context) (runtimeStats, error) {
	var s runtimeStats
	goroutines, err := d.get(ctx, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return s, err
	}
	if s.goroutines, err = parseGoroutineTotal(goroutines); err != nil {
		return s, err
	}
	heap, err := d.get(ctx, "/debug/pprof/heap?debug=1&gc=1")
	if err != nil {
		return s, err
	}
	stats, err := parseMemStats(heap, "HeapInuse", "StackInuse")
	if err != nil {
		return s, err
	}
	s.heapInuse, s.stackInuse = stats["HeapInuse"], stats["StackInuse"]
	return s, nil
}

// collect makes wsedge run a garbage collection (the heap profile's
// gc=1; the profile itself is dropped).
func (d *debugClient) collect(ctx context.Context) error {
	_, err := d.get(ctx, "/debug/pprof/heap?gc=1")
	return err
}

func (d *debugClient) get(ctx context.Context, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.addr+path, nil)
	if err != nil {
		return "", fmt.Errorf("debug endpoint: %w", err)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("debug endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("debug endpoint %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("debug endpoint %s: %s", path, resp.Status)
	}
	return string(body), nil
}

// parseGoroutineTotal reads N from the first line of the goroutine
// profile in text form, "goroutine profile: total N".
func parseGoroutineTotal(profile string) (int, error) {
	first, _, _ := strings.Cut(profile, "\n")
	v, ok := strings.CutPrefix(first, "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("goroutine profile starts with %q, want \"goroutine profile: total N\"", first)
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("goroutine profile total: %w", err)
	}
	return n, nil
}

// parseMemStats reads the runtime.MemStats lines at the end of the heap
// profile in text form; every one of names must be there. Most are
// "# HeapInuse = 123"; runtime/pprof writes Stack, MSpan and MCache as
// "# Stack = inuse / sys", read here as StackInuse and StackSys.
func parseMemStats(profile string, names ...string) (map[string]uint64, error) {
	out := make(map[string]uint64)
	lines := bufio.NewScanner(strings.NewReader(profile))
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(lines.Text(), "# "), " = ")
		if !ok {
			continue
		}
		if inuse, sys, pair := strings.Cut(v, " / "); pair {
			addMemStat(out, k+"Inuse", inuse)
			addMemStat(out, k+"Sys", sys)
			continue
		}
		addMemStat(out, k, v)
	}
	for _, name := range names {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("heap profile has no %q line", "# "+name+" = N")
		}
	}
	return out, nil
}

// addMemStat records v under name if it is a number (PauseNs, a list,
// is not).
func addMemStat(stats map[string]uint64, name, v string) {
	if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
		stats[name] = n
	}
}

// hardFileLimit is the hard limit on open files of process pid, from
// /proc/PID/limits.
func hardFileLimit(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, fmt.Errorf("open-file limit: %w", err)
	}
	return parseHardFileLimit(string(data))
}

// parseHardFileLimit reads the hard column of the "Max open files" line
// of /proc/PID/limits: "Max open files  20000  20000  files".
func parseHardFileLimit(limits string) (int, error) {
	for _, line := range strings.Split(limits, "\n") {
		rest, ok := strings.CutPrefix(line, "Max open files")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			break
		}
		if fields[1] == "unlimited" {
			return 1 << 20, nil // the kernel's nr_open default caps it there
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil {
			return 0, fmt.Errorf("open-file limit %q: %w", fields[1], err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("no \"Max open files\" line in /proc/PID/limits")
}
