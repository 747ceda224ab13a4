package main

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsedge/wsedge/config"
	"github.com/wsedge/wsedge/tlsconf"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestEvaluate(t *testing.T) {
	higher := newRow("1", "w", "msgs/s", false, goal{ref: "nginx", factor: 1}, goal{ref: "nginx", factor: 1.15, info: true})
	higher.add("wsedge", 110)
	higher.add("nginx", 100)
	if m, _, met := higher.evaluate(higher.goals[0]); m != "1.10x nginx" || met != "yes" {
		t.Errorf("higher is better: got %s %s", m, met)
	}
	if _, target, met := higher.evaluate(higher.goals[1]); target != "(stretch) >= 1.15x nginx" || met != "(info) no" {
		t.Errorf("stretch: got %s %s", target, met)
	}
	lower := newRow("4", "w", "KiB", true, goal{ref: "nginx", factor: 0.7}, goal{bound: 12})
	lower.add("wsedge", 15)
	lower.add("nginx", 20)
	lower.add("haproxy", 10)
	if m, _, met := lower.evaluate(lower.goals[0]); m != "0.75x nginx" || met != "**no**" {
		t.Errorf("lower is better, ratio: got %s %s", m, met)
	}
	if m, target, met := lower.evaluate(lower.goals[1]); m != "15.0" || target != "<= 12" || met != "**no**" {
		t.Errorf("lower is better, bound: got %s %s %s", m, target, met)
	}
	if got := failures([]*row{higher, lower}); len(got) != 2 {
		t.Errorf("failures: %v, want the two missed goals of row 4 (a stretch figure is no goal)", got)
	}
	empty := newRow("8", "w", "msgs/s", false, goal{ref: "nginx", factor: 1.1})
	empty.add("wsedge", 5)
	if _, _, met := empty.evaluate(empty.goals[0]); met != "no data" {
		t.Errorf("no reference: got %s, want no data", met)
	}
}

func TestRowSkipsNotApplicable(t *testing.T) {
	r := newRow("1", "w", "µs", true)
	r.add("direct", measurement{}.cpuPerRoundTrip())
	r.add("wsedge", measurement{hasProxy: true, proxyCPU: 2 * time.Second, load: loadResult{MessagesMeasured: 100000}}.cpuPerRoundTrip())
	if len(r.values["direct"]) != 0 || len(r.values["wsedge"]) != 1 || r.values["wsedge"][0] != 20 {
		t.Errorf("values %v: want none for direct, 20 µs for wsedge", r.values)
	}
}

func TestRenderTable(t *testing.T) {
	r := newRow("1", "100 conns", "msgs/s", false, goal{ref: "nginx", factor: 1})
	for target, v := range map[string]float64{"direct": 80000, "wsedge": 40000, "nginx": 44000, "haproxy": 50000} {
		r.add(target, v)
	}
	allocs := newRow("7", "forwarding", "allocs/msg", true, goal{bound: 0})
	allocs.add("wsedge client-to-backend", 1)
	h1 := newRow("5", "new conns", "conns/s", false)
	h2 := newRow("5", "new conns over HTTP/2", "conns/s", false)
	h2.notApplicable = []string{"nginx"}
	h2.baseline, h2.baselineName = "wsedge-http1", "HTTP/1.1"
	for target, v := range map[string]float64{"wsedge": 1000, "nginx": 900, "haproxy": 1100} {
		h1.add(target, v)
	}
	h2.add("wsedge", 1500)
	h2.add("haproxy", 3300)
	h2.values["wsedge-http1"] = h1.values["wsedge"]
	out := renderTable([]*row{r, allocs, h1, h2})
	for _, want := range []string{
		"| # | workload | metric | direct | wsedge | nginx | haproxy | measured | target | met |",
		"| 1 | 100 conns | msgs/s | 80000 | 40000 | 44000 | 50000 | 0.91x nginx | >= 1x nginx | **no** |",
		"| 7 | forwarding (client-to-backend) | allocs/msg | | 1 | | | 1 | <= 0 | **no** |",
		"| 5 | new conns | conns/s |  | 1000 | 900.0 | 1100 | 1.11x nginx | | |",
		"| 5 | new conns over HTTP/2 | conns/s |  | 1500 | n/a | 3300 | 1.50x HTTP/1.1 | | |",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if got := strings.Count(line, "|"); got != 11 {
			t.Errorf("%d cells in %q, want 10", got-1, line)
		}
	}
}

// TestGeneratedConfigsAreValid checks the configurations wsbench writes
// with the programs that will read them.
func TestGeneratedConfigsAreValid(t *testing.T) {
	dir := t.TempDir()
	cert, err := writeCertificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlsconf.New(tlsconf.Config{Certificates: []tlsconf.CertFile{{Cert: cert.cert, Key: cert.key}}, MinVersion: "1.2"}, discardLog()); err != nil {
		t.Errorf("generated certificate: %v", err)
	}
	if _, err := tlsconf.New(tlsconf.Config{Certificates: []tlsconf.CertFile{{Cert: cert.combined, Key: cert.combined}}, MinVersion: "1.2"}, discardLog()); err != nil {
		t.Errorf("combined certificate and key: %v", err)
	}
	plain := wsedgeConfig(18080, 18443, "127.0.0.1:19000", cert)
	for name, text := range map[string]string{"bench": plain, "idlescale": plain + keepaliveConfig(idlePingInterval, idlePongTimeout)} {
		f, err := config.Parse("wsedge.yaml", []byte(text), dir)
		if err != nil {
			t.Errorf("wsedge config (%s) does not load:\n%v\n%s", name, err, text)
			continue
		}
		// Workload 5 opens WebSockets over HTTP/2.
		if h2 := f.Listen.HTTP2; h2 == nil || !*h2 {
			t.Errorf("wsedge config (%s): listen.http2 is %v, want true", name, h2)
		}
	}
	t.Run("nginx", func(t *testing.T) {
		nginx := lookTool(t, "nginx", "the nginx configuration")
		prefix := filepath.Join(dir, "nginx")
		os.MkdirAll(filepath.Join(prefix, "logs"), 0o755)
		conf := filepath.Join(prefix, "nginx.conf")
		os.WriteFile(conf, []byte(nginxConfig(18081, 18444, "127.0.0.1:19000", cert, prefix)), 0o644)
		out, err := exec.Command(nginx, "-t", "-p", prefix, "-c", conf).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "syntax is ok") {
			t.Errorf("nginx -t: %v\n%s", err, out)
		}
	})
	t.Run("haproxy", func(t *testing.T) {
		haproxy := lookTool(t, "haproxy", "the HAProxy configuration")
		conf := filepath.Join(dir, "haproxy.cfg")
		os.WriteFile(conf, []byte(haproxyConfig(18082, 18445, "127.0.0.1:19000", cert, 9000)), 0o644)
		if err := checkHAProxyConfig(haproxy, conf); err != nil {
			t.Error(err)
		}
		os.WriteFile(conf, []byte("frontend\n    bind nowhere\n"), 0o644)
		if err := checkHAProxyConfig(haproxy, conf); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("a broken configuration: got %v, want haproxy -c's refusal", err)
		}
	})
}

// TestHTTP2Load: the HTTP/2 variant of workload 5 passes -h2-conns, and
// the report names each proxy's ratio, or why it has none.
func TestHTTP2Load(t *testing.T) {
	l := load{mode: "handshake", conns: 4, size: 64, duration: time.Second, tls: true, h2Conns: 1}
	if got := strings.Join(l.args("wss://x/ws"), " "); !strings.Contains(got, "-h2-conns 1") {
		t.Errorf("args %q lack -h2-conns 1", got)
	}
	l.h2Conns = 0
	if got := strings.Join(l.args("wss://x/ws"), " "); strings.Contains(got, "-h2-conns") {
		t.Errorf("HTTP/1.1 args %q name -h2-conns", got)
	}
	h1, h2 := newRow("5", "w", "conns/s", false), newRow("5", "w", "conns/s", false)
	h1.add("wsedge", 1000)
	h1.add("haproxy", 1000)
	h2.add("wsedge", 1600)
	h2.add("haproxy", 3200)
	h2.notApplicable = []string{"nginx"}
	want := "wsedge 1.60x; nginx n/a (no WebSockets over HTTP/2, RFC 8441); haproxy 3.20x"
	if got := http2Note(h1, h2); !strings.HasSuffix(got, want) {
		t.Errorf("note %q, want it to end with %q", got, want)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
