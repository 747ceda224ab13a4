package xconnect

import "testing"

// TestGODEBUG: the setting is found among others, the last entry for it
// wins, and adding it keeps what was there.
func TestGODEBUG(t *testing.T) {
	for _, tc := range []struct {
		godebug string
		on      bool
	}{
		{"", false},
		{"http2xconnect=1", true},
		{"madvdontneed=1, http2xconnect=1", true},
		{"http2xconnect=0", false},
		{"http2xconnect=1,http2xconnect=0", false},
		{"http2xconnect=10", false},
		{"xhttp2xconnect=1", false},
	} {
		if got := has(tc.godebug); got != tc.on {
			t.Errorf("has(%q) = %v, want %v", tc.godebug, got, tc.on)
		}
		if !has(with(tc.godebug)) {
			t.Errorf("with(%q) = %q does not turn it on", tc.godebug, with(tc.godebug))
		}
	}
	if _, said := lookup("madvdontneed=1,http2xconnect=0"); !said {
		t.Error("an operator's http2xconnect=0 was not seen")
	}
	if got := with("madvdontneed=1"); got != "madvdontneed=1,http2xconnect=1" {
		t.Errorf("with kept %q", got)
	}
}
