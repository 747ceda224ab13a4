package proxy

import (
	"runtime"
	"testing"

	"github.com/wsedge/wsedge/internal/wstest"
)

// TestReclaimAfterBurst: once a burst of connections has settled, the
// server collects and returns free memory to the system (a forced
// collection), without waiting for the runtime's two-minute one.
func TestReclaimAfterBurst(t *testing.T) {
	tp := startProxy(t, testConfig(handlerRoute("/echo", "echo")), false)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for range reclaimMinChurn {
		tp.mustDial(t, "/echo")
	}
	tp.waitConnections(t, reclaimMinChurn)
	wstest.Eventually(t, waitLimit, func() bool {
		var now runtime.MemStats
		runtime.ReadMemStats(&now)
		return now.NumForcedGC > before.NumForcedGC
	})
}
