package config

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/tlsconf"
)

// problem is what one reported error must say: its line and a phrase.
type problem struct {
	line     int
	contains string
}

func TestBadConfigsReportEveryProblem(t *testing.T) {
	cases := []struct {
		file string
		want []problem
	}{
		{"bad_unknown_key.yaml", []problem{
			{4, `keepalive: unknown key "ping_intervall" (did you mean "ping_interval"?)`},
			{6, `routes[0] (route "light"): set one of backend, backends or handler`},
			{8, `routes[0] (route "light"): unknown key "bakend" (did you mean "backend"?)`},
		}},
		{"bad_values.yaml", []problem{
			{4, `keepalive.ping_interval: invalid duration "3 minutes"`},
			{6, `limits.max_message_bytes: invalid size "1MB"`},
			{8, `limits.write_timeout: must not be negative`},
		}},
		{"bad_backend_scheme.yaml", []problem{
			{6, `routes[0].backend (route "light"): scheme "http" in "http://127.0.0.1:8765/light/{status}": a backend must be ws://, wss://, ws+unix:// or wss+unix://`},
		}},
		{"bad_undefined_param.yaml", []problem{
			{6, `routes[0].backend (route "logs"): {filename} is not a parameter of path "/logs/*file"`},
		}},
		{"bad_conflict.yaml", []problem{
			{8, `routes[1].path (route "one-log"): path "/logs/:name" conflicts with routes[0] "logs" (path "/logs/*file")`},
			{8, `(see line 5)`},
			{14, `routes[3].path (route "echo-again"): path "/echo" conflicts with routes[2] "echo" (path "/echo")`},
			{14, `(see line 11)`},
		}},
		{"bad_backend_and_handler.yaml", []problem{
			{4, `routes[0] (route "both"): set backends or a handler, not both`},
			{8, `routes[1] (route "neither"): set one of backend, backends or handler`},
			{12, `routes[2].handler (route "unknown-handler"): unknown handler "telnet"`},
		}},
		{"bad_origins.yaml", []problem{
			{3, `origins[1]: "app.example.com": want any, same-host, or an origin`},
			{8, `routes[0].origins[0] (route "/echo"): "https://*.*.example.com": a wildcard is one leading *.`},
		}},
		{"bad_listen.yaml", []problem{
			{2, `listen.http: "127.0.0.1:99999": the port must be a number from 0 to 65535`},
			{3, `listen.https: "no_such host!:8443": "no_such host!" is not an IP address or a host name`},
		}},
		{"bad_https_without_cert.yaml", []problem{
			{2, `listen.https: the https listener needs a certificate`},
		}},
		{"bad_many.yaml", []problem{
			{3, `listen.http: "nonsense" is not an address`},
			{5, `keepalive.ping_interval: invalid duration "soon"`},
			{9, `routes[0].backend (route "light"): scheme "ftp"`},
			{12, `routes[1].backend (route "logs"): {missing} is not a parameter`},
			{13, `routes[2].path (route "relative/path"): path must begin with '/'`},
		}},
		{"bad_acme.yaml", []problem{
			{3, `listen.redirect_to_https: needs both listen.http and listen.https`},
			{5, `tls.acme: ACME certificates are served on the https listener: set listen.https`},
			{6, `tls.acme.hosts[0]: "*.example.com": wildcard names need the DNS-01 challenge`},
			{6, `tls.acme.hosts[1]: "192.0.2.1" is not a DNS name`},
			{7, `tls.acme.directory: "http://acme.example.com/directory" is not an https:// URL`},
		}},
		{"bad_pool.yaml", []problem{
			{4, `limits.dial_timeout: want more than 0 and at most handshake_timeout (10s)`},
			{10, `routes[0].backends[1] (route "chat"): scheme "http"`},
			{11, `routes[0].balance (route "chat"): unknown policy "fastest"`},
			{16, `routes[1].hash_key (route "sticky"): param:user names no parameter of path "/sticky/:room"`},
			{18, `routes[1].health.path (route "sticky"): required: a path starting with /`},
			{20, `routes[1].health.timeout (route "sticky"): 2s must be shorter than the interval 1s`},
			{21, `routes[1].tls (route "sticky"): no backend is wss://`},
			{23, `routes[2].root (route "logs"): required: the directory whose files tail may serve`},
			{24, `routes[2].path (route "logs"): handler tail needs a parameter naming the file`},
			{26, `routes[2].balance (route "logs"): only used with backends`},
			{30, `routes[3].backends (route "both"): set backend or backends, not both`},
		}},
		{"bad_acme_http01.yaml", []problem{
			{6, `tls.acme.challenge: http-01 challenges are answered on the plain listener: set listen.http (e.g. :80)`},
		}},
		{"bad_hsts.yaml", []problem{
			{5, `tls.hsts: 500ms is below 1s and would send max-age=0, which tells browsers to forget this host's HSTS policy`},
		}},
		{"bad_compression.yaml", []problem{
			{7, `routes[0].compression (route "chat"): unknown mode "gzip": want passthrough or off`},
		}},
		{"bad_flow_placeholder.yaml", []problem{
			{2, `YAML syntax: did not find expected ',' or ']' (line 3: inside [ ] a URL with {placeholders} must be quoted`},
		}},
		{"bad_syntax.yaml", []problem{
			{3, `YAML syntax: did not find expected '-' indicator`},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(testdata(t), tc.file)
			_, err := Load(path)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load: got %v, want *Errors", err)
			}
			lines := strings.Split(err.Error(), "\n")
			for _, want := range tc.want {
				prefix := path + ":" + strconv.Itoa(want.line) + ": "
				found := false
				for _, l := range lines {
					if strings.HasPrefix(l, prefix) && strings.Contains(l, want.contains) {
						found = true
					}
				}
				if !found {
					t.Errorf("no error %q at line %d; got:\n%s", want.contains, want.line, err)
				}
			}
			if len(errs.Problems) != distinctProblems(tc.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(errs.Problems), distinctProblems(tc.want), err)
			}
		})
	}
}

// TestLocateNamesFileAndLine: what the build step finds wrong with the
// files a configuration names (here a missing certificate; Validate
// reads no file) is reported as Parse reports its own problems.
func TestLocateNamesFileAndLine(t *testing.T) {
	path := filepath.Join(testdata(t), "bad_missing_cert.yaml")
	f, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v (it reads no certificate and should accept the file)", err)
	}
	if f.Locate(nil) != nil {
		t.Error("Locate(nil) is not nil")
	}
	err = f.Locate(errors.Join(
		conftypes.Under("tls", tlsconf.Check(f.TLS)),
		errors.New("something without a field"),
	))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Locate: got %v, want *Errors", err)
	}
	want := []string{
		path + ":1: something without a field",
		path + ":6: tls.certificates[0].cert: read certificate: open " + filepath.Join(testdata(t), "does-not-exist.pem"),
	}
	if got := strings.Split(err.Error(), "\n"); len(got) != len(want) || got[0] != want[0] || !strings.HasPrefix(got[1], want[1]) {
		t.Errorf("Locate:\n%s\nwant lines starting:\n%s", err, strings.Join(want, "\n"))
	}
}

func TestDefaultAndExampleAreValid(t *testing.T) {
	def, err := Default()
	if err != nil {
		t.Fatalf("embedded default: %v", err)
	}
	if def.Listen.HTTPS != "127.0.0.1:8443" || def.Listen.HTTP != "127.0.0.1:8080" || len(def.TLS.SelfSigned) == 0 {
		t.Errorf("default should serve https on loopback :8443 with a self-signed cert and http on :8080, got %+v %+v", def.Listen, def.TLS)
	}
	ex, err := Load(filepath.Join(testdata(t), "..", "config.example.yaml"))
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	if len(ex.Routes) == 0 {
		t.Error("config.example.yaml has no routes")
	}
}

func TestDefaultsApplyToOmittedKeys(t *testing.T) {
	f, err := Load(filepath.Join(testdata(t), "good_minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen.http", f.Listen.HTTP, "127.0.0.1:8080"},
		{"listen.https", f.Listen.HTTPS, ""}, // only what is named is opened
		{"keepalive.ping_interval", f.Keepalive.PingInterval.D(), 30 * time.Second},
		{"keepalive.pong_timeout", f.Keepalive.PongTimeout.D(), 10 * time.Second},
		{"limits.max_message_bytes", int64(f.Limits.MaxMessageBytes), int64(1 << 20)},
		{"limits.handshake_timeout", f.Limits.HandshakeTimeout.D(), 10 * time.Second},
		{"limits.write_timeout", f.Limits.WriteTimeout.D(), 10 * time.Second},
		{"shutdown.drain_timeout", f.Shutdown.DrainTimeout.D(), 30 * time.Second},
		{"relay.remask", f.Relay.Remask, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestExplicitZeroDisablesPings(t *testing.T) {
	f, err := Parse("inline", []byte("listen:\n  http: \"127.0.0.1:0\"\nkeepalive:\n  ping_interval: 0\nroutes:\n  - path: /e\n    handler: echo\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if f.Keepalive.PingInterval != 0 {
		t.Errorf("ping_interval: got %v, want 0 (disabled)", f.Keepalive.PingInterval)
	}
}

func TestRelayRemaskParsed(t *testing.T) {
	f, err := Parse("inline", []byte("listen:\n  http: \"127.0.0.1:0\"\nrelay:\n  remask: true\nroutes:\n  - path: /e\n    handler: echo\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !f.Relay.Remask {
		t.Error("relay.remask: got false, want true")
	}
}

func testdata(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// distinctProblems counts the problems a case expects: entries that
// start with "(" only add a detail to the problem before them.
func distinctProblems(ps []problem) int {
	n := 0
	for _, p := range ps {
		if !strings.HasPrefix(p.contains, "(") {
			n++
		}
	}
	return n
}

// TestOnlyNamedListeners: a configuration that names only the https
// listener gets no plaintext one (issue 10).
func TestOnlyNamedListeners(t *testing.T) {
	f, err := Parse("tls-only.yaml", []byte("listen:\n  https: \"127.0.0.1:8443\"\ntls:\n  self_signed: [localhost]\nroutes:\n  - path: /echo\n    handler: echo\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if f.Listen.HTTP != "" {
		t.Errorf("listen.http: %q, want none", f.Listen.HTTP)
	}
}

// TestTLSCrossChecks: the tls settings that depend on a listener, and
// the values only the whole file can judge, each reported at its line.
func TestTLSCrossChecks(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []problem // nil: accepted
	}{
		{"hsts without https", "listen:\n  http: \":8080\"\ntls:\n  hsts: 1y\n",
			[]problem{{4, "tls.hsts: the Strict-Transport-Security header is sent only on the https listener: set listen.https"}}},
		{"negative hsts", "listen:\n  https: \":8443\"\ntls:\n  self_signed: [localhost]\n  hsts: -1d\n",
			[]problem{{5, "tls.hsts: must not be negative"}}},
		{"include_subdomains without hsts", "listen:\n  https: \":8443\"\ntls:\n  self_signed: [localhost]\n  hsts_include_subdomains: true\n",
			[]problem{{5, "tls.hsts_include_subdomains: set hsts too"}}},
		{"hsts", "listen:\n  https: \":8443\"\ntls:\n  self_signed: [localhost]\n  hsts: 1y\n  hsts_include_subdomains: true\n", nil},
		{"unknown challenge", "listen:\n  https: \":443\"\n  http: \":80\"\ntls:\n  acme:\n    hosts: [example.com]\n    challenge: dns-01\n",
			[]problem{{7, `tls.acme.challenge: "dns-01": want "tls-alpn-01" or "http-01"`}}},
		{"http-01 with listen.http", "listen:\n  https: \":443\"\n  http: \":80\"\ntls:\n  acme:\n    hosts: [example.com]\n    challenge: http-01\n", nil},
		{"tls-alpn-01 without listen.http", "listen:\n  https: \":443\"\ntls:\n  acme:\n    hosts: [example.com]\n    challenge: tls-alpn-01\n", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			routes := "routes:\n  - path: /echo\n    handler: echo\n"
			_, err := Parse("inline.yaml", []byte(tc.yaml+routes), t.TempDir())
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Parse: %v, want it accepted", err)
				}
				return
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse: got %v, want *Errors", err)
			}
			if len(errs.Problems) != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(errs.Problems), len(tc.want), err)
			}
			for i, want := range tc.want {
				if i >= len(errs.Problems) {
					break
				}
				got := errs.Problems[i]
				if got.Line != want.line || !strings.Contains(got.String(), want.contains) {
					t.Errorf("problem %d: got %q, want line %d with %q", i, got, want.line, want.contains)
				}
			}
		})
	}
}

func TestHSTSParsed(t *testing.T) {
	f, err := Parse("inline", []byte("listen:\n  https: \"127.0.0.1:0\"\ntls:\n  self_signed: [localhost]\n  hsts: 1y\nroutes:\n  - path: /e\n    handler: echo\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.TLS.HSTSHeader(), "max-age=31536000"; got != want {
		t.Errorf("tls.hsts: 1y: header %q, want %q", got, want)
	}
}
