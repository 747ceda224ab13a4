package main

import (
	"context"
	"fmt"
	"time"
)

// pollInterval is how often waits check their condition.
const pollInterval = 100 * time.Millisecond

// waitFor polls cond until it holds or limit passes, and reports whether
// it held.
func waitFor(limit time.Duration, cond func() bool) bool {
	return waitUntil(context.Background(), limit, "", cond) == nil
}

// waitUntil polls cond until it holds, limit passes or ctx ends; the
// error for a timeout says what was awaited.
func waitUntil(ctx context.Context, limit time.Duration, what string, cond func() bool) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("timed out after %v waiting for %s", limit, what)
		case <-tick.C:
		}
	}
	return nil
}

// holdFor waits for d while checking, every pollInterval, that nothing
// has gone wrong: it returns check's first error, or ctx's.
func holdFor(ctx context.Context, d time.Duration, check func() error) error {
	end := time.NewTimer(d)
	defer end.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if err := check(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-end.C:
			return nil
		case <-tick.C:
		}
	}
}
