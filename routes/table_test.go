package routes

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/upstream"
)

func TestMatchByHostAndPath(t *testing.T) {
	cfg := Config{
		{Name: "exact-light", Host: "Home.Example.com", Path: "/light/:status", Config: upstream.Config{Handler: "echo"}},
		{Name: "wild-light", Host: "*.example.com", Path: "/light/:status", Config: upstream.Config{Handler: "echo"}},
		{Name: "wild-only", Host: "*.example.com", Path: "/wild", Config: upstream.Config{Handler: "echo"}},
		{Name: "any-light", Path: "/light/:status", Config: upstream.Config{Handler: "echo"}},
		{Name: "logs", Path: "/logs/*file", Config: upstream.Config{Backend: "ws://127.0.0.1:4040/{file}"}},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	table, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		host, path string
		want       string // route name, "" for no match
		param      [2]string
	}{
		{"home.example.com", "/light/on", "exact-light", [2]string{"status", "on"}},
		{"HOME.example.com.:8443", "/light/off", "exact-light", [2]string{"status", "off"}},
		{"garage.example.com", "/light/on", "wild-light", [2]string{"status", "on"}},
		{"a.b.example.com", "/light/on", "any-light", [2]string{"status", "on"}}, // a wildcard covers one label
		{"home.example.com", "/wild", "wild-only", [2]string{}},                  // falls through to the wildcard
		{"other.test", "/light/on", "any-light", [2]string{"status", "on"}},
		{"other.test", "/logs/app/today.log", "logs", [2]string{"file", "/app/today.log"}},
		{"other.test", "/wild", "", [2]string{}},
		{"[::1]:8080", "/light/on", "any-light", [2]string{"status", "on"}},
		{"other.test", "/light/on/extra", "", [2]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://x"+tc.path, nil)
			r.Host = tc.host
			i, params := table.Match(r)
			switch {
			case tc.want == "" && i >= 0:
				t.Errorf("matched route %q, want none", cfg[i].Name)
			case tc.want == "":
			case i < 0:
				t.Errorf("no route matched, want %q", tc.want)
			case cfg[i].Name != tc.want:
				t.Errorf("route: got %q, want %q", cfg[i].Name, tc.want)
			case tc.param[0] != "" && params.ByName(tc.param[0]) != tc.param[1]:
				t.Errorf("param %s: got %q, want %q", tc.param[0], params.ByName(tc.param[0]), tc.param[1])
			}
		})
	}
}

func TestConflictsAreScopedToHost(t *testing.T) {
	cfg := Config{
		{Path: "/logs/*file", Host: "a.example.com", Config: upstream.Config{Handler: "echo"}},
		{Path: "/logs/:name", Host: "b.example.com", Config: upstream.Config{Handler: "echo"}},
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("routes on different hosts cannot conflict, got: %v", err)
	}
	cfg[1].Host = "A.example.com"
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "conflicts with routes[0]") {
		t.Errorf("same host (any case): got %v, want a conflict naming routes[0]", err)
	}
}

func TestHostValidation(t *testing.T) {
	for _, good := range []string{"", "example.com", "*.example.com", "localhost", "127.0.0.1", "chat.localhost"} {
		if err := validateHost(good); err != nil {
			t.Errorf("host %q: %v", good, err)
		}
	}
	for _, bad := range []string{"example.com:443", "https://example.com", "ex ample.com", "*.*.example.com", "a/b"} {
		if err := validateHost(bad); err == nil {
			t.Errorf("host %q: accepted, want an error", bad)
		}
	}
}
