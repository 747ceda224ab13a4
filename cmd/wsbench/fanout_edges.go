// The fanout's wsedge instances: their configuration, and what their
// admin listener says (the wsedge_cluster_* metrics, CPU profiles).

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// fanoutEdge is one wsedge instance of a run.
type fanoutEdge struct {
	name  string // edge-1, ...: its cluster.instance
	proc  *process
	url   string // the room on its plain listener
	admin *debugClient
}

// fanoutConfig is wsedge with the broadcast route on a plain listener,
// room for every member (and the publisher) on one instance, the admin
// listener with profiles, and, if natsURL is set, a cluster section.
// echo_self is off: the publisher gets nothing back, and every delivery
// counted is a member's.
func fanoutConfig(httpPort int, adminAddr string, members int, natsURL, instance string) string {
	c := fmt.Sprintf(`listen:
  http: "127.0.0.1:%d"
limits:
  max_connections: %d
shutdown:
  drain_timeout: 2s
routes:
  - name: fanout
    path: %s
    handler: broadcast
    broadcast:
      echo_self: false
`, httpPort, members+fdMargin, fanoutRoute) + profilesConfig(adminAddr)
	if natsURL != "" {
		c += fmt.Sprintf("cluster:\n  nats: [%q]\n  instance: %s\n", natsURL, instance)
	}
	return c
}

// startEdges starts a scenario's instances, each in a directory of its
// own under dir, and waits for their listeners.
func startEdges(dir, bin string, sc fanoutScenario, members int, natsURL string) ([]*fanoutEdge, error) {
	var edges []*fanoutEdge
	fail := func(err error) ([]*fanoutEdge, error) {
		stopEdges(edges)
		return nil, err
	}
	ports, err := freePorts(2 * sc.instances)
	if err != nil {
		return nil, err
	}
	for i := range sc.instances {
		e := &fanoutEdge{name: fmt.Sprintf("edge-%d", i+1)}
		edir := filepath.Join(dir, e.name)
		if err := os.MkdirAll(edir, 0o755); err != nil {
			return fail(err)
		}
		nats := ""
		if sc.cluster {
			nats = natsURL
		}
		adminAddr := fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])
		t, err := startWsedge(edir, bin, fanoutConfig(ports[2*i], adminAddr, members, nats, e.name), ports[2*i], 0)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", e.name, err))
		}
		e.proc, e.admin = t.proc, newDebugClient(adminAddr)
		e.url = fmt.Sprintf("ws://127.0.0.1:%d%s", ports[2*i], strings.Replace(fanoutRoute, ":room", fanoutRoom, 1))
		edges = append(edges, e)
	}
	for _, e := range edges {
		for _, u := range []string{e.url, "http://" + e.admin.addr} {
			if err := waitListening(u); err != nil {
				return fail(fmt.Errorf("%s: %w (see %s)", e.name, err, filepath.Join(dir, e.name, "wsedge.log")))
			}
		}
	}
	return edges, nil
}

func stopEdges(edges []*fanoutEdge) {
	for _, e := range edges {
		e.proc.stop()
	}
}

// clusterMetrics reads the wsedge_cluster_* samples of the instance's
// /metrics.
func (e *fanoutEdge) clusterMetrics(ctx context.Context) (map[string]float64, error) {
	text, err := e.admin.get(ctx, "/metrics")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	return parseMetrics(text, "wsedge_cluster_"), nil
}

// parseMetrics reads the samples of the Prometheus text format whose
// names start with prefix, keyed by name and labels as written
// (wsedge_cluster_messages_dropped_total{reason="slow_consumer"}).
func parseMetrics(text, prefix string) map[string]float64 {
	out := map[string]float64{}
	lines := bufio.NewScanner(strings.NewReader(text))
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		line := lines.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// profile takes a CPU profile of the instance for d and writes it to
// file.
func (e *fanoutEdge) profile(ctx context.Context, d time.Duration, file string) error {
	data, err := e.admin.get(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())))
	if err != nil {
		return fmt.Errorf("%s: profile: %w", e.name, err)
	}
	return os.WriteFile(file, []byte(data), 0o644)
}
