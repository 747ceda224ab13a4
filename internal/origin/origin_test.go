package origin

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

func TestPolicy(t *testing.T) {
	cases := []struct {
		entries []string
		host    string
		tls     bool
		origin  string
		want    bool
	}{
		{[]string{SameHost}, "edge.test", false, "", true}, // no Origin: not a browser page
		{[]string{SameHost}, "edge.test", false, "http://edge.test", true},
		{[]string{SameHost}, "edge.test", true, "https://edge.test", true},
		{[]string{SameHost}, "edge.test", true, "http://edge.test", false},       // scheme compared
		{[]string{SameHost}, "edge.test:8443", true, "https://edge.test", false}, // port compared
		{[]string{SameHost}, "edge.test:8443", true, "https://edge.test:8443", true},
		{[]string{SameHost}, "edge.test", false, "http://evil.test", false},
		{[]string{Any}, "edge.test", false, "https://evil.test", true},
		{[]string{"https://app.example.com"}, "edge.test", true, "https://app.example.com", true},
		{[]string{"https://app.example.com"}, "edge.test", true, "https://app.example.com:443", true},
		{[]string{"https://app.example.com"}, "edge.test", true, "https://app.example.com:8443", false},
		{[]string{"https://app.example.com"}, "edge.test", true, "http://app.example.com", false},
		{[]string{"https://*.example.com"}, "edge.test", true, "https://a.b.example.com", true},
		{[]string{"https://*.example.com"}, "edge.test", true, "https://example.com", false},
		{[]string{"https://*.example.com"}, "edge.test", true, "https://evilexample.com", false},
		{[]string{"https://*.example.com"}, "edge.test", true, "null", false},
		{nil, "edge.test", false, "http://edge.test", false}, // nothing admitted
	}
	for _, tc := range cases {
		p, err := Parse(tc.entries)
		if err != nil {
			t.Fatalf("%v: %v", tc.entries, err)
		}
		r := httptest.NewRequest("GET", "/ws", nil)
		r.Host = tc.host
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := p.Allows(r); got != tc.want {
			t.Errorf("%v, request to %s (tls %v) from %q: %v, want %v", tc.entries, tc.host, tc.tls, tc.origin, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, good := range []string{Any, SameHost, "https://app.example.com", "http://localhost:8080", "https://*.example.com"} {
		if err := Check(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"", "app.example.com", "https://app.example.com/path", "ftp://x", "https://*", "https://a.*.example.com", "https://*.*.example.com"} {
		if Check(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
