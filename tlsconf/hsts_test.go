package tlsconf

import (
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/conftypes"
)

func TestHSTSHeader(t *testing.T) {
	cases := []struct {
		name       string
		hsts       conftypes.Duration
		subdomains bool
		want       string
	}{
		{"off by default", 0, false, ""},
		{"one year", conftypes.Duration(conftypes.Year), false, "max-age=31536000"},
		{"whole seconds only", conftypes.Duration(90*time.Second + 500*time.Millisecond), false, "max-age=90"},
		{"one second", conftypes.Duration(time.Second), false, "max-age=1"},
		{"with subdomains", conftypes.Duration(180 * conftypes.Day), true, "max-age=15552000; includeSubDomains"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.SelfSigned = []string{"localhost"}
			cfg.HSTS, cfg.HSTSIncludeSubdomains = tc.hsts, tc.subdomains
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := cfg.HSTSHeader(); got != tc.want {
				t.Errorf("HSTSHeader: got %q, want %q", got, tc.want)
			}
		})
	}
}
