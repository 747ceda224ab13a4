// Package admin is wsedge's admin listener (issue 9): health and
// readiness endpoints for orchestrators, configuration reloads on request
// (what "wsedge reload" calls), and opt-in runtime profiles. It knows
// nothing of the proxy: main hands it what it serves through the small
// interfaces defined here.
package admin

import (
	"errors"
	"fmt"
	"net"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// Config is the admin section. Absent (Listen empty): no admin listener.
type Config struct {
	// Listen is the admin listener's address, e.g. 127.0.0.1:9090. Empty
	// (the default): none. /reload and /debug/pprof/ answer only clients
	// on loopback, wherever it listens.
	Listen string `yaml:"listen"`
	// PProf serves Go's runtime profiles under /debug/pprof/. Default
	// false: a CPU profile costs CPU, and profiles show what the process
	// holds.
	PProf bool `yaml:"pprof"`
}

// Enabled reports whether an admin listener is configured.
func (c *Config) Enabled() bool { return c.Listen != "" }

// Validate checks the section.
func (c *Config) Validate() error {
	if c.Listen == "" {
		if c.PProf {
			return conftypes.Field("pprof", errors.New("needs listen: profiles are served on the admin listener"))
		}
		return nil
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		return conftypes.Field("listen", fmt.Errorf("%q is not an address: want host:port", c.Listen))
	}
	return nil
}
