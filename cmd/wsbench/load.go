package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// loadResult is the part of wsload's -json summary wsbench reads.
type loadResult struct {
	MsgsPerSec       float64 `json:"msgs_per_sec"`
	MBPerSec         float64 `json:"mb_per_sec"`
	HandshakesPerSec float64 `json:"handshakes_per_sec"`
	Lost             int64   `json:"lost"`
	Corrupted        int64   `json:"corrupted"`
	Reordered        int64   `json:"reordered"`
	Errors           int64   `json:"errors"`
	ConnsOpened      int64   `json:"conns_opened"`
	ConnsFailed      int64   `json:"conns_failed"`
	Latency          struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"latency_us"`
	ErrorSamples []string `json:"error_samples"`
}

// load describes one wsload run.
type load struct {
	mode     string
	conns    int
	size     int
	duration time.Duration
	tls      bool
	extra    []string
}

func (l load) args(url string) []string {
	a := []string{"-url", url, "-mode", l.mode, "-c", strconv.Itoa(l.conns), "-size", strconv.Itoa(l.size),
		"-duration", l.duration.String(), "-json", "-progress", "0"}
	if l.tls {
		a = append(a, "-insecure")
	}
	return append(a, l.extra...)
}

// maxAttempts bounds how often a run is repeated for steal.
const maxAttempts = 3

// runLoad runs wsload to completion and parses its summary. A run during
// which the hypervisor took more than -max-steal of the CPU is repeated
// (up to maxAttempts): it measured the neighbours, not the target.
func (b *bench) runLoad(url string, l load) (loadResult, error) {
	for attempt := 1; ; attempt++ {
		r, steal, err := b.runLoadOnce(url, l)
		if err != nil || steal <= b.opts.maxSteal || attempt == maxAttempts {
			return r, err
		}
		fmt.Fprintf(os.Stderr, "wsbench:   cpu steal %.0f%% > %.0f%%: repeating the run\n", steal, b.opts.maxSteal)
	}
}

func (b *bench) runLoadOnce(url string, l load) (loadResult, float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.duration+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.wsload, l.args(url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var err error
	steal := b.steal.measure(func() { err = cmd.Run() })
	fmt.Fprintf(os.Stderr, "wsbench:   %s %s: cpu steal %.0f%%\n", l.mode, url, steal)
	var r loadResult
	if jerr := json.Unmarshal(stdout.Bytes(), &r); jerr != nil {
		return r, steal, fmt.Errorf("wsload %v: %v (%v): %s", l.args(url), err, jerr, stderr.String())
	}
	if r.Lost+r.Corrupted+r.Reordered > 0 {
		return r, steal, fmt.Errorf("wsload against %s: %d lost, %d corrupted, %d reordered", url, r.Lost, r.Corrupted, r.Reordered)
	}
	return r, steal, nil
}

// startLoad starts wsload in the background (for the idle workload) and
// returns a function that stops it and waits.
func (b *bench) startLoad(url string, l load) (func(), error) {
	cmd := exec.Command(b.wsload, l.args(url)...)
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	return func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}, nil
}
