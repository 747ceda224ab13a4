package interop

import (
	"fmt"
	"os"
	"testing"
)

// TestMain gives the run a directory for the wsedge binary (built on
// first use, see wsedgeBinary) and removes it afterwards.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wsedge-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
