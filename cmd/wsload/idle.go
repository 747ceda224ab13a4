// Idle mode: how many mostly silent connections can the target hold?
//
// Connections open at the ramp rate and are then held, without traffic,
// for -duration. Each keeps a reader goroutine, because reading is what
// answers the server's pings and notices its close; a target that drops
// idle connections therefore shows up as fewer connections open at the
// end, and the drops as errors.

package main

import "context"

// runIdle runs idle mode and summarises it.
func runIdle(ctx context.Context, env *runEnv) (summary, error) {
	f := newFleet(env)
	stopProgress := startProgress(env, func() progressSample {
		return progressSample{open: f.live.Load(), errors: env.errs.total()}
	})
	defer stopProgress()

	phase, endPhase := context.WithCancel(ctx)
	defer endPhase()
	f.open(ctx, func(c *liveConn) { holdIdle(phase, c) })
	measured := env.holdPhase(phase, f.opened.Load() > 0)
	openAtEnd := f.live.Load()
	endPhase()
	f.wait()

	s := summary{
		ConnsOpened:    f.opened.Load(),
		ConnsFailed:    f.failed.Load(),
		ConnsOpenAtEnd: openAtEnd,
	}
	s.setMeasured(measured)
	return s, nil
}

// holdIdle is an idle connection's session: keep reading until the
// measured phase ends (or the server drops the connection), then close.
func holdIdle(phase context.Context, c *liveConn) {
	c.startReader(func() error { return discardMessages(c.ws) })
	select {
	case <-phase.Done():
	case <-c.readerDone:
	}
	c.closeGracefully()
}
