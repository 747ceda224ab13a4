package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wsedge/wsedge/internal/acmetest"
	"github.com/wsedge/wsedge/internal/natstest"
	"github.com/wsedge/wsedge/internal/wstest"
)

// TestACMEClusterOneOrderPerName runs three wsedge apps, wired as main
// wires them, with ACME from Pebble and a cluster section on one NATS
// server (issue 12): a client reaching all three at once for each of two
// names makes exactly one order per name, and all three serve the same
// certificate. Pebble validates against the first app's ports only; the
// challenge answers are in the shared store, so whichever app orders,
// the first one answers.
func TestACMEClusterOneOrderPerName(t *testing.T) {
	nats := natstest.Start(t)
	backend := wstest.EchoServer(t)
	first := listenLoopback(t)
	p := acmetest.StartPebble(t, acmetest.PortOf(t, first.HTTP.Addr().String()), acmetest.PortOf(t, first.HTTPS.Addr().String()))
	hosts := []string{"one.cluster.test", "two.cluster.test"}
	warm := []string{"warm1.cluster.test", "warm2.cluster.test", "warm3.cluster.test"}
	apps := make([]*runningApp, 3)
	for i := range apps {
		ls := first
		if i > 0 {
			ls = listenLoopback(t)
		}
		cfg := acmeConfig(p, strings.Join(append(hosts, warm...), ", "), filepath.Join(t.TempDir(), "unused"), backend) + fmt.Sprintf(`
cluster:
  nats: [%q]
  instance: edge-%d
  acme:
    lock_ttl: 1m
`, nats.URL(), i+1)
		apps[i] = startApp(t, t.TempDir(), cfg, ls)
	}
	// Each instance first orders a name of its own, one after the other,
	// so that each has registered its ACME account (the cluster's one
	// key) before the race: in-process Pebble has a data race of its own
	// when two requests register one account at once (wfe.NewAccount
	// updates the account another is encoding), which -race reports.
	for i, app := range apps {
		c, err := app.dialWSS(t, warm[i], "/ws", p.Roots)
		if err != nil {
			t.Fatalf("warming up %s: %v", warm[i], err)
		}
		c.Close()
	}
	warmOrders := p.Orders()
	serials := make([][]string, len(hosts))
	var mu sync.Mutex
	var dials sync.WaitGroup
	for h, host := range hosts {
		for _, app := range apps {
			dials.Go(func() {
				c, err := app.dialWSS(t, host, "/ws", p.Roots)
				if err != nil {
					t.Errorf("%s on %s: %v", host, app.tlsAddr, err)
					return
				}
				defer c.Close()
				serial := servedLeaf(t, c).SerialNumber.String()
				mu.Lock()
				serials[h] = append(serials[h], serial)
				mu.Unlock()
			})
		}
	}
	dials.Wait()
	for h, host := range hosts {
		if len(serials[h]) != len(apps) {
			continue // reported above
		}
		for _, s := range serials[h][1:] {
			if s != serials[h][0] {
				t.Errorf("%s: the three instances serve serials %v, want one", host, serials[h])
				break
			}
		}
	}
	if got := p.Orders() - warmOrders; got != int64(len(hosts)) {
		t.Errorf("Pebble got %d orders, want %d: one per name across the cluster", got, len(hosts))
	}
}
