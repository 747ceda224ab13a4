// What every mode of a run shares: the options, the dialer, the clock
// that timestamps messages, the error log, and small timing helpers.

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gorilla/websocket"
)

// runEnv is the shared, read-mostly state of one run.
type runEnv struct {
	opts    *options
	dialer  *websocket.Dialer
	clock   runClock
	errs    *errorLog
	fdLimit uint64    // soft RLIMIT_NOFILE in force
	stderr  io.Writer // progress lines; written by one goroutine at a time
	marks   phaseMarks
}

func newRunEnv(opts *options, fdLimit uint64, stderr io.Writer, marks phaseMarks) *runEnv {
	return &runEnv{
		opts:    opts,
		dialer:  newDialer(opts),
		clock:   newRunClock(),
		errs:    newErrorLog(),
		fdLimit: fdLimit,
		stderr:  stderr,
		marks:   marks,
	}
}

// runMode runs the mode the options ask for.
func runMode(ctx context.Context, env *runEnv) (summary, error) {
	switch env.opts.mode {
	case modeEcho:
		return runEcho(ctx, env)
	case modeIdle:
		return runIdle(ctx, env)
	case modeHandshake:
		return runHandshake(ctx, env)
	}
	return summary{}, fmt.Errorf("unknown mode %q", env.opts.mode)
}

// recordDialError records a failed dial and reports whether it failed on
// the local open-file limit, in which case opening more connections is
// pointless.
func (e *runEnv) recordDialError(err error) (fileLimit bool) {
	if isLocalFileLimit(err) {
		e.errs.recordFileLimit(err, e.fdLimit)
		return true
	}
	e.errs.record(err)
	return false
}

// runClock timestamps messages as the time since the run started. It reads
// the monotonic clock, so wall-clock steps cannot distort latencies.
type runClock struct{ start time.Time }

func newRunClock() runClock { return runClock{start: time.Now()} }

// now is the time elapsed since the run started.
func (c runClock) now() time.Duration { return time.Since(c.start) }

// holdPhase waits out the measured phase: -duration, or less if ctx ends
// first (the run was interrupted), and marks its start and end. With
// nothing to measure it returns at once. It returns how long the phase
// lasted.
func (e *runEnv) holdPhase(ctx context.Context, anythingToMeasure bool) time.Duration {
	begin := time.Now()
	e.marks.start()
	if anythingToMeasure {
		sleepCtx(ctx, e.opts.duration)
	}
	e.marks.end()
	return time.Since(begin)
}

// sleepCtx waits for d, and reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
