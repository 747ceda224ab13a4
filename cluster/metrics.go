package cluster

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Why a room message did not cross instances
// (wsedge_cluster_messages_dropped_total's reason).
const (
	dropDisconnected = "disconnected"  // published while NATS was down
	dropError        = "publish_error" // NATS refused it (a permission, a size)
	dropSlow         = "slow_consumer" // a room's subscription fell too far behind
)

// stats count what crosses instances; Collect turns them into the
// cluster's metrics (Node.Collector). Atomic counters, so the publish
// path takes no lock.
type stats struct {
	published, received, malformed atomic.Int64
	reconnects                     atomic.Int64
	droppedDisconnected            atomic.Int64
	droppedError                   atomic.Int64
}

var (
	publishedDesc = prometheus.NewDesc("wsedge_cluster_messages_published_total",
		"Broadcast messages this instance published to the other instances.", nil, nil)
	receivedDesc = prometheus.NewDesc("wsedge_cluster_messages_received_total",
		"Broadcast messages received from other instances for this instance's members.", nil, nil)
	malformedDesc = prometheus.NewDesc("wsedge_cluster_messages_malformed_total",
		"Messages on a room subject that were not wsedge room messages, ignored.", nil, nil)
	droppedDesc = prometheus.NewDesc("wsedge_cluster_messages_dropped_total",
		"Broadcast messages that did not cross instances: published while NATS was down (disconnected), refused by it (publish_error), or dropped by a room's subscription that fell behind (slow_consumer).",
		[]string{"reason"}, nil)
	reconnectsDesc = prometheus.NewDesc("wsedge_cluster_reconnects_total",
		"Times the connection to NATS was lost and restored.", nil, nil)
	connectedDesc = prometheus.NewDesc("wsedge_cluster_connected",
		"1 while the instance is connected to NATS, else 0.", nil, nil)
	roomsDesc = prometheus.NewDesc("wsedge_cluster_rooms",
		"Rooms this instance is subscribed to: rooms with local members.", nil, nil)
)

// nodeCollector is a Node's prometheus.Collector.
type nodeCollector struct{ n *Node }

// Collector returns the cluster's metrics for a Prometheus registry.
func (n *Node) Collector() prometheus.Collector { return nodeCollector{n} }

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{publishedDesc, receivedDesc, malformedDesc, droppedDesc, reconnectsDesc, connectedDesc, roomsDesc} {
		ch <- d
	}
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n, s := c.n, &c.n.stats
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(publishedDesc, s.published.Load())
	counter(receivedDesc, s.received.Load())
	counter(malformedDesc, s.malformed.Load())
	counter(reconnectsDesc, s.reconnects.Load())
	rooms, slow := n.linkStats()
	counter(droppedDesc, s.droppedDisconnected.Load(), dropDisconnected)
	counter(droppedDesc, s.droppedError.Load(), dropError)
	counter(droppedDesc, slow, dropSlow)
	connected := 0.0
	if n.conn.IsConnected() {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(connectedDesc, prometheus.GaugeValue, connected)
	ch <- prometheus.MustNewConstMetric(roomsDesc, prometheus.GaugeValue, float64(rooms))
}
