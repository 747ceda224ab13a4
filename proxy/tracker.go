package proxy

import (
	"context"
	"sync"

	"github.com/wsedge/wsedge/upstream"
)

// drainable is an upgraded connection (a proxied session or a built-in
// handler connection) that shutdown, or a reload that removed its route,
// must close.
type drainable interface {
	// goAway starts a closing handshake with f's close frames on every
	// open leg, and bounds it in time.
	goAway(f *farewell)
	// forceClose drops the network connections at once.
	forceClose()
	// servedBy returns the route the connection was opened on and its
	// backend (nil for a built-in).
	servedBy() (*route, *upstream.Backend)
}

// tracker is the one registry of live upgraded connections: http.Server's
// Shutdown neither closes nor waits for hijacked connections, so the drain
// happens here.
type tracker struct {
	mu       sync.Mutex
	live     map[drainable]struct{}
	draining bool
	wg       sync.WaitGroup // one per live connection
	// opened and closed count connections since start, for
	// reclaimAfterBursts.
	opened, closed uint64
}

func newTracker() *tracker { return &tracker{live: map[drainable]struct{}{}} }

// add registers c and reports true, or reports false once draining has
// begun; the caller then closes c with 1001 itself.
func (t *tracker) add(c drainable) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining {
		return false
	}
	t.live[c] = struct{}{}
	t.opened++
	t.wg.Add(1)
	return true
}

// done unregisters c once its goroutines have stopped.
func (t *tracker) done(c drainable) {
	t.mu.Lock()
	delete(t.live, c)
	t.closed++
	t.mu.Unlock()
	t.wg.Done()
}

// churn is the number of connections opened or closed since start.
func (t *tracker) churn() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.opened + t.closed
}

// accepting reports whether new connections are still taken.
func (t *tracker) accepting() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.draining
}

// count returns the number of live connections.
func (t *tracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live)
}

// drain sends 1001 Going Away to every live connection, waits for all of
// them to end until ctx is done, then drops the rest and waits for their
// goroutines to stop. It returns how many had to be dropped.
func (t *tracker) drain(ctx context.Context) int {
	t.mu.Lock()
	t.draining = true
	live := t.snapshotLocked()
	t.mu.Unlock()
	// Concurrently: a close frame to a peer whose socket is full waits up
	// to the close deadline, and one slow peer must not hold up the rest.
	var sending sync.WaitGroup
	defer sending.Wait()
	for _, c := range live {
		sending.Go(func() { c.goAway(&shutdownFarewell) })
	}
	ended := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(ended)
	}()
	select {
	case <-ended:
		return 0
	case <-ctx.Done():
	}
	t.mu.Lock()
	rest := t.snapshotLocked()
	t.mu.Unlock()
	for _, c := range rest {
		c.forceClose()
	}
	<-ended
	return len(rest)
}

// snapshot lists the live connections.
func (t *tracker) snapshot() []drainable {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.snapshotLocked()
}

func (t *tracker) snapshotLocked() []drainable {
	out := make([]drainable, 0, len(t.live))
	for c := range t.live {
		out = append(out, c)
	}
	return out
}
