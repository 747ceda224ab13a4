package proxy

import (
	"net/http"
	"testing"

	"github.com/wsedge/wsedge/internal/netset"
)

// FuzzReportedClient: whatever a trusted proxy's headers say, reading
// the client from them never panics, and a client it believes is one of
// the hops named: one that is not a trusted proxy, or the farthest.
func FuzzReportedClient(f *testing.F) {
	f.Add("198.51.100.1, 10.1.1.1", "", "")
	f.Add("", `for="[2001:db8::1]:4711";proto=https, for=10.0.0.1`, "")
	f.Add("", "", "192.0.2.1")
	f.Add("unknown, 10.0.0.2", "for=_hidden", "::ffff:10.0.0.3")
	trusted, err := netset.Parse("trusted_proxies", []string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, xff, forwarded, realIP string) {
		h := http.Header{}
		for k, v := range map[string]string{"X-Forwarded-For": xff, "Forwarded": forwarded, "X-Real-Ip": realIP} {
			if v != "" {
				h.Set(k, v)
			}
		}
		a, ok := reportedClient(h, trusted)
		if !ok {
			return
		}
		if !a.IsValid() || a.Is4In6() {
			t.Fatalf("believed %v from %v", a, h)
		}
		var hops []string
		switch {
		case xff != "":
			hops = splitList(h["X-Forwarded-For"])
		case forwarded != "":
			hops = forwardedFor(h["Forwarded"])
		default:
			hops = []string{realIP}
		}
		// a is named by a hop, and a trusted proxy is believed only as
		// the farthest hop (the same address may stand at several).
		named := false
		for i, raw := range hops {
			if hop, _ := parseHostAddr(raw); hop == a {
				named = true
				if i == 0 || !trusted.Contains(a) {
					return
				}
			}
		}
		if named {
			t.Fatalf("believed %v, a trusted proxy that is not the farthest hop, from %v", a, h)
		}
		t.Fatalf("believed %v, which no hop of %v names", a, h)
	})
}
