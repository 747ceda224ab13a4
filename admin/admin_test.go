package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// controller is a Controller whose answers the test sets.
type controller struct {
	reloadErr, readyErr error
	reloads             int
}

func (c *controller) Reload() error { c.reloads++; return c.reloadErr }
func (c *controller) Ready() error  { return c.readyErr }
func (c *controller) Status() any   { return map[string]int{"routes": 1} }

// serve runs an admin server for cfg on a loopback port until the test
// ends, and returns its base URL.
func serve(t *testing.T, cfg Config, ctl Controller, metrics http.Handler) string {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	s := New(cfg, ctl, metrics, slog.New(slog.DiscardHandler))
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return "http://" + ln.Addr().String()
}

func fetch(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestEndpoints(t *testing.T) {
	ctl := &controller{}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "wsedge_up 1\n") })
	base := serve(t, Config{}, ctl, metrics)
	cases := []struct {
		name, method, path string
		setup              func()
		status             int
		body               string
	}{
		{"alive", "GET", "/healthz", nil, 200, "ok\n"},
		{"ready", "GET", "/readyz", nil, 200, "ready\n"},
		{"draining", "GET", "/readyz", func() { ctl.readyErr = errors.New("draining") }, 503, "draining\n"},
		{"reload", "POST", "/reload", nil, 200, "reloaded\n"},
		{"reload refused", "POST", "/reload", func() { ctl.reloadErr = errors.New("wsedge.yaml:3: keepalive: changed") }, 422, "wsedge.yaml:3: keepalive: changed\n"},
		{"reload is a POST", "GET", "/reload", nil, 405, ""},
		{"metrics", "GET", "/metrics", nil, 200, "wsedge_up 1\n"},
		{"no profiles unless asked", "GET", "/debug/pprof/", nil, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			status, body := fetch(t, tc.method, base+tc.path)
			if status != tc.status || tc.body != "" && body != tc.body {
				t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, status, body, tc.status, tc.body)
			}
		})
	}
	if ctl.reloads != 2 {
		t.Errorf("%d reloads, want 2 (one per POST)", ctl.reloads)
	}
}

func TestProfilesWhenAsked(t *testing.T) {
	base := serve(t, Config{PProf: true}, &controller{}, nil)
	status, body := fetch(t, "GET", base+"/debug/pprof/goroutine?debug=1")
	if status != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine profile: %d %.80q", status, body)
	}
	if status, _ := fetch(t, "GET", base+"/metrics"); status != 404 {
		t.Errorf("/metrics without a metrics handler: %d, want 404", status)
	}
}

func TestReloadAndProfilesOnlyFromLoopback(t *testing.T) {
	h := New(Config{Listen: "127.0.0.1:0", PProf: true}, &controller{}, nil, slog.New(slog.DiscardHandler)).routes()
	for _, target := range []string{"/reload", "/debug/pprof/"} {
		for _, remote := range []struct {
			addr string
			want int
		}{{"192.0.2.7:40000", 403}, {"[2001:db8::1]:40000", 403}, {"[::1]:40000", 200}} {
			method := "GET"
			if target == "/reload" {
				method = "POST"
			}
			r := httptest.NewRequest(method, target, nil)
			r.RemoteAddr = remote.addr
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != remote.want {
				t.Errorf("%s %s from %s: %d, want %d", method, target, remote.addr, w.Code, remote.want)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{Listen: "127.0.0.1:9090", PProf: true}, ""},
		{Config{PProf: true}, "pprof: needs listen"},
		{Config{Listen: "9090"}, `listen: "9090" is not an address`},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
