package tlsconf

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// HSTSHeader returns the Strict-Transport-Security value the https
// listener sends (RFC 6797 section 6.1): "max-age=<seconds>", plus
// "; includeSubDomains" if so configured, or "" when HSTS is off.
func (c *Config) HSTSHeader() string {
	if c.HSTS <= 0 {
		return ""
	}
	v := "max-age=" + strconv.FormatInt(int64(c.HSTS.D()/time.Second), 10)
	if c.HSTSIncludeSubdomains {
		v += "; includeSubDomains"
	}
	return v
}

// validateHSTS checks hsts and hsts_include_subdomains.
func (c *Config) validateHSTS() error {
	var errs []error
	switch {
	case c.HSTS < 0:
		errs = append(errs, conftypes.Field("hsts", errors.New("must not be negative")))
	case c.HSTS > 0 && c.HSTS.D() < time.Second:
		// max-age counts whole seconds, and max-age=0 is not "off": it
		// makes browsers forget the host's HSTS policy (RFC 6797 section
		// 6.1.1). Off is 0 or no hsts key; wsedge never sends max-age=0.
		errs = append(errs, conftypes.Field("hsts", fmt.Errorf("%v is below 1s and would send max-age=0, which tells browsers to forget this host's HSTS policy: set at least 1s (e.g. 1y), or 0 to send no header", c.HSTS)))
	}
	if c.HSTSIncludeSubdomains && c.HSTS == 0 {
		errs = append(errs, conftypes.Field("hsts_include_subdomains", errors.New("set hsts too: there is no header to add includeSubDomains to")))
	}
	return errors.Join(errs...)
}
