package proxy

import (
	"context"
	"net/http"
	"net/netip"
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
	// admitted is the connection's place under the connection limits.
	admitted() *ticket
}

// admitted: see drainable.
func (lc *lifecycle) admitted() *ticket { return lc.ticket }

// ticket is one connection's place under the connection limits, taken
// at the handshake (reserve) and given back once (release).
type ticket struct {
	route    string       // the route's label
	client   netip.Prefix // see clientKey
	released bool         // under the tracker's mu
}

// routeClient keys a client's connections on one route.
type routeClient struct {
	route  string
	client netip.Prefix
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
	// Connections admitted and not yet released (see reserve): in all,
	// by route label, by client, by client on a route. Keys whose count
	// falls to zero are deleted, so the maps hold only live clients.
	admitted      int
	byRoute       map[string]int
	byClient      map[netip.Prefix]int
	byRouteClient map[routeClient]int
}

func newTracker() *tracker {
	return &tracker{live: map[drainable]struct{}{}, byRoute: map[string]int{},
		byClient: map[netip.Prefix]int{}, byRouteClient: map[routeClient]int{}}
}

// reserve takes a place for a connection on route from client under
// lim, or says which limit is full (or that the server is draining). The
// place is held until release, which the tracker calls itself once a
// connection carrying the ticket has been added (see add and done).
func (t *tracker) reserve(route string, client netip.Prefix, lim connLimits) (*ticket, error) {
	rc := routeClient{route, client}
	t.mu.Lock()
	defer t.mu.Unlock()
	full := ""
	switch {
	case t.draining:
		return nil, errDraining
	case lim.total > 0 && t.admitted >= lim.total:
		full = limitConnections
	case lim.route > 0 && t.byRoute[route] >= lim.route:
		full = limitRouteConnections
	case lim.client > 0 && t.byClient[client] >= lim.client:
		full = limitClient
	case lim.routeClient > 0 && t.byRouteClient[rc] >= lim.routeClient:
		full = limitRouteClient
	}
	if full != "" {
		return nil, &limitError{limit: full, status: http.StatusServiceUnavailable, retry: connRetry}
	}
	t.admitted++
	t.byRoute[route]++
	t.byClient[client]++
	t.byRouteClient[rc]++
	return &ticket{route: route, client: client}, nil
}

// release gives tk's place back; a nil or released ticket is ignored.
func (t *tracker) release(tk *ticket) {
	if tk == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.releaseLocked(tk)
}

func (t *tracker) releaseLocked(tk *ticket) {
	if tk == nil || tk.released {
		return
	}
	tk.released = true
	t.admitted--
	decrement(t.byRoute, tk.route)
	decrement(t.byClient, tk.client)
	decrement(t.byRouteClient, routeClient{tk.route, tk.client})
}

// decrement counts one less for k, deleting the key at zero.
func decrement[K comparable](m map[K]int, k K) {
	if m[k] <= 1 {
		delete(m, k)
		return
	}
	m[k]--
}

// add registers c and reports true, or reports false once draining has
// begun (c's ticket is then released); the caller closes c with 1001
// itself.
func (t *tracker) add(c drainable) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining {
		t.releaseLocked(c.admitted())
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
	t.releaseLocked(c.admitted())
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
