package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// loadResult is the part of wsload's -json summary wsbench reads.
type loadResult struct {
	MsgsPerSec       float64 `json:"msgs_per_sec"`
	MessagesMeasured uint64  `json:"messages_measured"` // round trips of the measured phase
	MBPerSec         float64 `json:"mb_per_sec"`
	HandshakesPerSec float64 `json:"handshakes_per_sec"`
	H2Conns          int64   `json:"h2_conns"` // TLS connections under the HTTP/2 streams
	Lost             int64   `json:"lost"`
	Corrupted        int64   `json:"corrupted"`
	Reordered        int64   `json:"reordered"`
	Errors           int64   `json:"errors"`
	ConnsOpened      int64   `json:"conns_opened"`
	ConnsFailed      int64   `json:"conns_failed"`
	ConnsOpenAtEnd   int64   `json:"conns_open_at_end"`
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
	tls      bool // against the target's wss:// URL (certificate not verified)
	// h2Conns > 0 opens handshake mode's WebSockets as HTTP/2 streams on
	// that many TLS connections (wsload -h2-conns).
	h2Conns int
	extra   []string
}

func (l load) args(url string) []string {
	a := []string{"-url", url, "-mode", l.mode, "-c", strconv.Itoa(l.conns), "-size", strconv.Itoa(l.size),
		"-duration", l.duration.String(), "-json", "-progress", "0"}
	if l.tls {
		a = append(a, "-insecure")
	}
	if l.h2Conns > 0 {
		a = append(a, "-h2-conns", strconv.Itoa(l.h2Conns))
	}
	return append(a, l.extra...)
}

// phaseMeter measures a target over exactly wsload's measured phase,
// which wsload announces on -phase-fd: counters read from the start of
// the run would include opening and closing the connections, which the
// round trips they are divided by do not.
type phaseMeter interface {
	prepare() error    // before wsload starts (attach a tracer, reset)
	phaseStart() error // the measured phase has begun
	phaseEnd() error   // the measured phase is over
	finish() error     // after wsload has exited (detach, read results)
}

// maxAttempts bounds how often a run is repeated for steal.
const maxAttempts = 3

// runLoad runs wsload to completion and parses its summary; meter, if
// not nil, measures the target during the measured phase. A run during
// which the hypervisor took more than -max-steal of the CPU is repeated
// (up to maxAttempts): it measured the neighbours, not the target. The
// meter then holds the figures of the last attempt, the one returned.
func (b *bench) runLoad(url string, l load, meter phaseMeter) (loadResult, error) {
	for attempt := 1; ; attempt++ {
		r, steal, err := b.runLoadOnce(url, l, meter)
		if err != nil || steal <= b.opts.maxSteal || attempt == maxAttempts {
			return r, err
		}
		fmt.Fprintf(os.Stderr, "wsbench:   cpu steal %.0f%% > %.0f%%: repeating the run\n", steal, b.opts.maxSteal)
	}
}

func (b *bench) runLoadOnce(url string, l load, meter phaseMeter) (loadResult, float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.duration+time.Minute)
	defer cancel()
	args := l.args(url)
	cmd := exec.CommandContext(ctx, b.wsload, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var steal float64
	var runErr, meterErr error
	if meter == nil {
		steal = b.steal.measure(func() { runErr = cmd.Run() })
	} else {
		steal, runErr, meterErr = b.runMetered(cmd, meter)
	}
	fmt.Fprintf(os.Stderr, "wsbench:   %s %s: cpu steal %.0f%%\n", l.mode, url, steal)
	var r loadResult
	jerr := json.Unmarshal(stdout.Bytes(), &r)
	switch {
	case meterErr != nil:
		return r, steal, fmt.Errorf("measuring %s: %w", url, meterErr)
	case jerr != nil:
		return r, steal, fmt.Errorf("wsload %v: %v (%w): %s", args, runErr, jerr, stderr.String())
	case r.Lost+r.Corrupted+r.Reordered > 0:
		return r, steal, fmt.Errorf("wsload against %s: %d lost, %d corrupted, %d reordered", url, r.Lost, r.Corrupted, r.Reordered)
	case r.H2Conns != int64(l.h2Conns):
		// The target closed a connection (GOAWAY) and wsload opened
		// another: not the workload asked for.
		return r, steal, fmt.Errorf("wsload against %s: its WebSockets took %d TLS connections, want %d (errors: %q)", url, r.H2Conns, l.h2Conns, r.ErrorSamples)
	}
	return r, steal, nil
}

// runMetered runs cmd (wsload, not started yet) with its phase marks on
// descriptor 3 and calls meter at each of them. It returns the steal
// while wsload ran (not while the meter prepared or finished: detaching
// perf takes seconds), the run's error and the meter's.
func (b *bench) runMetered(cmd *exec.Cmd, meter phaseMeter) (steal float64, runErr, meterErr error) {
	marksR, marksW, err := os.Pipe()
	if err != nil {
		return 0, nil, fmt.Errorf("phase marks pipe: %w", err)
	}
	defer marksR.Close()
	cmd.ExtraFiles = []*os.File{marksW} // descriptor 3 in wsload
	cmd.Args = append(cmd.Args, "-phase-fd", "3")
	if err := meter.prepare(); err != nil {
		marksW.Close()
		return 0, nil, err
	}
	followed := make(chan error, 1)
	steal = b.steal.measure(func() {
		runErr = cmd.Start()
		// Only wsload holds the write end now: the marks end when it exits.
		marksW.Close()
		if runErr != nil {
			followed <- nil
			return
		}
		go func() { followed <- followPhase(marksR, meter) }()
		runErr = cmd.Wait()
	})
	meterErr = errors.Join(<-followed, meter.finish())
	return steal, runErr, meterErr
}

// followPhase reads wsload's phase marks until it closes them, calling
// meter at each. A run that ends without both marks was cut short.
func followPhase(marks io.Reader, meter phaseMeter) error {
	var started, ended bool
	var errs []error
	lines := bufio.NewScanner(marks)
	for lines.Scan() {
		switch lines.Text() {
		case "start":
			started = true
			errs = append(errs, meter.phaseStart())
		case "end":
			ended = true
			errs = append(errs, meter.phaseEnd())
		}
	}
	errs = append(errs, lines.Err())
	if !started || !ended {
		errs = append(errs, fmt.Errorf("wsload ended without marking the start and end of its measured phase (start %v, end %v)", started, ended))
	}
	return errors.Join(errs...)
}

// heldLoad is a wsload process in the background (idle mode), holding
// its connections until it is stopped.
type heldLoad struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer // complete once done is closed
	done           chan struct{}
	err            error // of Wait, once done is closed
}

// startHeldLoad starts wsload with args; its owner must call stop.
func startHeldLoad(wsload string, args []string) (*heldLoad, error) {
	h := &heldLoad{cmd: exec.Command(wsload, args...), done: make(chan struct{})}
	h.cmd.Stdout, h.cmd.Stderr = &h.stdout, &h.stderr
	if err := h.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start wsload: %w", err)
	}
	go h.reap()
	return h, nil
}

// reap is the goroutine that waits for the process; wait waits for it.
func (h *heldLoad) reap() {
	h.err = h.cmd.Wait()
	close(h.done)
}

// exited reports whether wsload has ended on its own.
func (h *heldLoad) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// stop interrupts wsload and waits for it (see wait).
func (h *heldLoad) stop(limit time.Duration) (loadResult, error) {
	h.interrupt()
	return h.wait(limit)
}

// interrupt asks wsload to end its run: it closes its connections (a
// closing handshake each) and prints its summary. Only once: a second
// interrupt kills wsload at once.
func (h *heldLoad) interrupt() {
	h.cmd.Process.Signal(os.Interrupt)
}

// wait waits for wsload to exit, killing it if it is still running after
// limit, and returns its summary.
func (h *heldLoad) wait(limit time.Duration) (loadResult, error) {
	select {
	case <-h.done:
	case <-time.After(limit):
		h.cmd.Process.Kill()
		<-h.done
	}
	var r loadResult
	if err := json.Unmarshal(h.stdout.Bytes(), &r); err != nil {
		return r, fmt.Errorf("wsload %v: %v, no summary (%w): %s", h.cmd.Args[1:], h.err, err, h.stderr.String())
	}
	return r, nil
}
