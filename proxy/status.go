package proxy

import (
	"sync"
	"time"
)

// Status is what the admin page shows of the proxy (issue 9): each route
// with its target, backends and connections, and the last connections
// that closed. It is a snapshot, encoded as JSON.
type Status struct {
	Routes []RouteStatus  `json:"routes"`
	Closes []ClosedStatus `json:"closes"` // newest first
}

// RouteStatus is one route.
type RouteStatus struct {
	Name        string          `json:"name"` // the route's label, as in logs and metrics
	Host        string          `json:"host"`
	Path        string          `json:"path"`
	Handler     string          `json:"handler,omitempty"` // a built-in; empty for backends
	Connections int             `json:"connections"`
	Messages    uint64          `json:"messages"` // since start, both ways
	Backends    []BackendStatus `json:"backends,omitempty"`
}

// BackendStatus is one backend of a route's pool.
type BackendStatus struct {
	URL      string `json:"url"`
	Up       bool   `json:"up"`
	Active   int64  `json:"active"`
	Failures uint64 `json:"failures"`
}

// ClosedStatus is a connection that ended.
type ClosedStatus struct {
	Time     time.Time `json:"time"`
	Route    string    `json:"route"`
	Client   string    `json:"client"`
	Duration string    `json:"duration"`
	By       string    `json:"by"`
	Code     int       `json:"code"` // the close code involved, 0 for none
	Cause    string    `json:"cause"`
}

// recentCloses keeps the last closes for the admin page.
type recentCloses struct {
	mu   sync.Mutex
	ring [recentClosesKept]ClosedStatus
	next int
	n    int
}

const recentClosesKept = 20

func (r *recentCloses) add(c ClosedStatus) {
	r.mu.Lock()
	r.ring[r.next] = c
	r.next = (r.next + 1) % len(r.ring)
	r.n = min(r.n+1, len(r.ring))
	r.mu.Unlock()
}

func (r *recentCloses) list() []ClosedStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ClosedStatus, 0, r.n)
	for i := 1; i <= r.n; i++ {
		out = append(out, r.ring[(r.next-i+len(r.ring))%len(r.ring)])
	}
	return out
}

// Status returns the proxy's status for the admin page. It is empty
// without metrics (Deps.Metrics), which the admin listener turns on.
func (s *Server) Status() Status {
	st := Status{Routes: []RouteStatus{}, Closes: []ClosedStatus{}}
	if s.metrics == nil {
		return st
	}
	open := map[string]int{}
	for _, c := range s.tracker.snapshot() {
		rt, _ := c.servedBy()
		open[rt.Label()]++
	}
	for _, r := range s.runtime.Load().routes {
		rs := RouteStatus{Name: r.Label(), Host: r.Host, Path: r.Path, Handler: r.Handler, Connections: open[r.Label()]}
		if r.traffic != nil {
			for dir := range 2 {
				m, _ := r.traffic.sum(dir)
				rs.Messages += m
			}
		}
		for _, b := range r.target.backends() {
			rs.Backends = append(rs.Backends, BackendStatus{URL: b.String(), Up: b.Available(), Active: b.Active(), Failures: b.Failures()})
		}
		st.Routes = append(st.Routes, rs)
	}
	st.Closes = s.metrics.recent.list()
	return st
}
