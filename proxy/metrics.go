package proxy

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics (issue 9). Label values are bounded by the configuration:
// route labels (names, or host and path), backends as configured (URL
// templates, not expanded URLs), close codes, a fixed set of outcomes.
//
// The relay adds what it forwards to counters of its loop's own (one
// cache line per loop and route: an uncontended atomic add per read, no
// lock); a scrape sums them. Handshakes, closes and ping timeouts are
// counted once per connection.

// endedBy says who began the end of a connection, for the closes metric.
type endedBy uint8

const (
	endedByNone    endedBy = iota
	endedByClient          // the client closed, failed or vanished
	endedByBackend         // the backend (or built-in handler) did
	endedByWsedge          // wsedge: shutdown, a reload
)

func (e endedBy) String() string {
	switch e {
	case endedByClient:
		return "client"
	case endedByBackend:
		return "backend"
	case endedByWsedge:
		return "wsedge"
	}
	return "unknown"
}

// direction indexes traffic counters.
const (
	toBackend = iota // from the client
	toClient         // from the backend
)

// traffic is one route's forwarded messages and bytes, by direction, one
// shard per relay loop. It outlives reloads: a route keeps its counters
// by its label, so they never go back.
type traffic struct {
	shards []*trafficShard
}

// trafficShard is one loop's counts: 64 bytes, allocated on its own (the
// allocator aligns 64-byte objects to 64), so that two loops never write
// the same cache line.
type trafficShard struct {
	messages [2]atomic.Uint64
	bytes    [2]atomic.Uint64
	_        [64 - 4*8]byte
}

// add counts what one read forwarded, in the shard of the loop (by its
// index) that read it.
func (t *traffic) add(shard, dir int, messages int64, bytes int) {
	sh := t.shards[shard]
	if messages > 0 {
		sh.messages[dir].Add(uint64(messages))
	}
	sh.bytes[dir].Add(uint64(bytes))
}

func (t *traffic) sum(dir int) (messages, bytes uint64) {
	for _, sh := range t.shards {
		messages += sh.messages[dir].Load()
		bytes += sh.bytes[dir].Load()
	}
	return messages, bytes
}

// metrics are the server's Prometheus metrics. A Server without them (no
// admin listener) has a nil *metrics, and every method does nothing.
type metrics struct {
	srv              *Server
	loops            int
	handshakes       *prometheus.CounterVec
	handshakeSeconds *prometheus.HistogramVec
	closes           *prometheus.CounterVec
	pingTimeouts     *prometheus.CounterVec
	rateLimited      *prometheus.CounterVec
	limitRefusals    *prometheus.CounterVec

	mu      sync.Mutex
	traffic map[string]*traffic // by route label

	recent recentCloses // for the admin page

	connsDesc, messagesDesc, bytesDesc, backendUpDesc, backendFailuresDesc *prometheus.Desc
}

func newMetrics(s *Server, loops int) *metrics {
	return &metrics{
		srv:   s,
		loops: loops,
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsedge_handshakes_total",
			Help: "WebSocket handshakes by route and outcome: 101, the HTTP status wsedge answered, or backend_2xx..backend_5xx for a backend's refusal relayed to the client.",
		}, []string{"route", "outcome"}),
		handshakeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wsedge_handshake_duration_seconds",
			Help:    "Time from a client's upgrade request to its 101: backend dial and both upgrades.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsedge_closes_total",
			Help: "Connections ended, by route, by who began the end (client, backend, wsedge) and the close code it sent or was sent (none: the connection was lost).",
		}, []string{"route", "by", "code"}),
		pingTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsedge_ping_timeouts_total",
			Help: "Legs declared dead for not answering a keepalive ping, by route and leg.",
		}, []string{"route", "leg"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsedge_client_rate_limited_total",
			Help: "Clients over their limits.client_message_rate, by route and action: paused (once per pause episode) or closed (with 1008).",
		}, []string{"route", "action"}),
		limitRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsedge_limit_refusals_total",
			Help: "Handshakes refused by a limit, by route and limit: max_connections, route max_connections, max_connections_per_ip, route max_connections_per_ip, handshake_rate, max_backend_dials.",
		}, []string{"route", "limit"}),
		traffic: map[string]*traffic{},
		connsDesc: prometheus.NewDesc("wsedge_connections_open",
			"Upgraded connections open, by route and backend (empty for built-in handlers).", []string{"route", "backend"}, nil),
		messagesDesc: prometheus.NewDesc("wsedge_messages_total",
			"Messages forwarded (or, on a built-in handler's route, received and sent), by route and direction.", []string{"route", "direction"}, nil),
		bytesDesc: prometheus.NewDesc("wsedge_bytes_total",
			"Bytes forwarded (frames as on the wire), by route and direction.", []string{"route", "direction"}, nil),
		backendUpDesc: prometheus.NewDesc("wsedge_backend_up",
			"1 while a backend takes new connections (its health check passes and no failure backoff runs), 0 otherwise.", []string{"route", "backend"}, nil),
		backendFailuresDesc: prometheus.NewDesc("wsedge_backend_failures_total",
			"Failed dials that took a backend out of rotation (pools of two or more backends).", []string{"route", "backend"}, nil),
	}
}

// trafficFor returns the traffic counters of the route labelled label.
func (m *metrics) trafficFor(label string) *traffic {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.traffic[label]
	if t == nil {
		t = &traffic{shards: make([]*trafficShard, m.loops)}
		for i := range t.shards {
			t.shards[i] = new(trafficShard)
		}
		m.traffic[label] = t
	}
	return t
}

// handshake counts a handshake's outcome on route (nil: no route).
func (m *metrics) handshake(rt *route, outcome string) {
	if m == nil {
		return
	}
	m.handshakes.WithLabelValues(labelOf(rt), outcome).Inc()
}

// upgraded counts a handshake that ended in 101, begun at start.
func (m *metrics) upgraded(rt *route, start time.Time) {
	if m == nil {
		return
	}
	label := labelOf(rt)
	m.handshakes.WithLabelValues(label, "101").Inc()
	m.handshakeSeconds.WithLabelValues(label).Observe(time.Since(start).Seconds())
}

// relayedRefusal counts a backend's refusal passed on to the client.
func (m *metrics) relayedRefusal(rt *route, status int) {
	m.handshake(rt, "backend_"+strconv.Itoa(status/100)+"xx")
}

// ended counts a connection's end.
func (m *metrics) ended(rt *route, by endedBy, code uint16) {
	if m == nil {
		return
	}
	c := "none"
	if code != 0 {
		c = strconv.Itoa(int(code))
	}
	m.closes.WithLabelValues(rt.Label(), by.String(), c).Inc()
}

// pingTimeout counts a leg that did not answer a ping.
func (m *metrics) pingTimeout(rt *route, leg string) {
	if m == nil {
		return
	}
	m.pingTimeouts.WithLabelValues(rt.Label(), leg).Inc()
}

// clientRateLimited counts a client paused (once per pause episode) or
// closed ("paused", "closed") for its message rate.
func (m *metrics) clientRateLimited(rt *route, action string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(rt.Label(), action).Inc()
}

// limitRefused counts a handshake a limit refused.
func (m *metrics) limitRefused(rt *route, limit string) {
	if m == nil {
		return
	}
	m.limitRefusals.WithLabelValues(labelOf(rt), limit).Inc()
}

func labelOf(rt *route) string {
	if rt == nil {
		return ""
	}
	return rt.Label()
}

// Describe and Collect make metrics one prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.handshakes.Describe(ch)
	m.handshakeSeconds.Describe(ch)
	m.closes.Describe(ch)
	m.pingTimeouts.Describe(ch)
	m.rateLimited.Describe(ch)
	m.limitRefusals.Describe(ch)
	for _, d := range []*prometheus.Desc{m.connsDesc, m.messagesDesc, m.bytesDesc, m.backendUpDesc, m.backendFailuresDesc} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.handshakes.Collect(ch)
	m.handshakeSeconds.Collect(ch)
	m.closes.Collect(ch)
	m.pingTimeouts.Collect(ch)
	m.rateLimited.Collect(ch)
	m.limitRefusals.Collect(ch)
	m.collectConnections(ch)
	m.collectTraffic(ch)
	m.collectBackends(ch)
}

func (m *metrics) collectConnections(ch chan<- prometheus.Metric) {
	type key struct{ route, backend string }
	open := map[key]int{}
	for _, c := range m.srv.tracker.snapshot() {
		rt, b := c.servedBy()
		k := key{route: rt.Label()}
		if b != nil {
			k.backend = b.String()
		}
		open[k]++
	}
	for k, n := range open {
		ch <- prometheus.MustNewConstMetric(m.connsDesc, prometheus.GaugeValue, float64(n), k.route, k.backend)
	}
}

func (m *metrics) collectTraffic(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for label, t := range m.traffic {
		for dir, name := range [2]string{"client_to_backend", "backend_to_client"} {
			messages, bytes := t.sum(dir)
			ch <- prometheus.MustNewConstMetric(m.messagesDesc, prometheus.CounterValue, float64(messages), label, name)
			ch <- prometheus.MustNewConstMetric(m.bytesDesc, prometheus.CounterValue, float64(bytes), label, name)
		}
	}
}

func (m *metrics) collectBackends(ch chan<- prometheus.Metric) {
	for _, r := range m.srv.runtime.Load().routes {
		for _, b := range r.target.backends() {
			up := 0.0
			if b.Available() {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(m.backendUpDesc, prometheus.GaugeValue, up, r.Label(), b.String())
			ch <- prometheus.MustNewConstMetric(m.backendFailuresDesc, prometheus.CounterValue, float64(b.Failures()), r.Label(), b.String())
		}
	}
}
