// Package xconnect turns on Go's HTTP/2 extended CONNECT (RFC 8441), over
// which browsers open WebSockets on an existing HTTP/2 connection. Go 1.26
// has it behind GODEBUG=http2xconnect=1, read from the environment once,
// when net/http initialises (golang/go#71128); http.HTTP2Config has no
// setting for it yet (golang/go#53208), and //go:debug cannot set it. So a
// program turns it on for itself by running again, once, with the
// variable set: Enable does that, first thing in main (and in TestMain).
// A leaf: it imports nothing of wsedge.
package xconnect

import (
	"os"
	"strings"
)

// setting is what GODEBUG must hold.
const setting = "http2xconnect=1"

// Enabled reports whether this process's net/http accepts extended
// CONNECT: GODEBUG named it when the process started.
func Enabled() bool { return has(os.Getenv("GODEBUG")) }

// has reports whether a GODEBUG value turns extended CONNECT on; a
// later entry for the same key wins, as in Go's own parsing.
func has(godebug string) bool {
	on, _ := lookup(godebug)
	return on
}

// lookup reports whether godebug turns extended CONNECT on, and whether
// it says anything of it at all (an operator's http2xconnect=0 is
// respected).
func lookup(godebug string) (on, said bool) {
	for kv := range strings.SplitSeq(godebug, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k == "http2xconnect" {
			on, said = v == "1", true
		}
	}
	return on, said
}

// with returns godebug with extended CONNECT turned on.
func with(godebug string) string {
	if godebug == "" {
		return setting
	}
	return godebug + "," + setting
}
