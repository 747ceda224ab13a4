package proxy

import (
	"context"
	"runtime/debug"
	"time"
)

// After a burst of connections opening or closing (a reconnect storm, a
// load balancer draining onto this instance), wsedge gives the memory the
// burst left behind back to the system once the connections have settled.
// Each handshake leaves some kilobytes of garbage (request, buffers, TLS
// handshake state) around a session of about one (see README, Performance).
// Go frees it at its next collection and returns pages to the system
// gradually after that, but an idle process collects only every two
// minutes: until then the burst's garbage stays resident, several times
// what the idle connections themselves hold.
const (
	// reclaimQuiet is how long no connection may open or close before a
	// burst counts as over.
	reclaimQuiet = time.Second
	// reclaimMinChurn is the number of connections opened or closed since
	// the last reclaim that makes one worth its cost: a collection (its
	// marking proportional to the live heap, ~1 ms per 10,000 idle
	// connections here) and returning the free pages.
	reclaimMinChurn = 256
)

// reclaimAfterBursts runs until ctx is done, returning memory to the
// system after each burst. Its owner waits for it.
func (s *Server) reclaimAfterBursts(ctx context.Context) {
	tick := time.NewTicker(reclaimQuiet)
	defer tick.Stop()
	var last, reclaimed uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		churn := s.tracker.churn()
		if churn != last {
			last = churn // still moving
			continue
		}
		if churn-reclaimed >= reclaimMinChurn {
			reclaimed = churn
			debug.FreeOSMemory()
		}
	}
}
