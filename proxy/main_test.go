package proxy

import (
	"fmt"
	"os"
	"testing"

	"github.com/wsedge/wsedge/internal/xconnect"
)

// TestMain runs the tests with HTTP/2 extended CONNECT on, as wsedge runs
// (see internal/xconnect): the test binary runs again with GODEBUG set.
func TestMain(m *testing.M) {
	if err := xconnect.Enable(); err != nil {
		fmt.Fprintln(os.Stderr, "proxy tests:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
