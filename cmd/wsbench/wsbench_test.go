package main

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	higher := newRow("1", "w", "msgs/s", false, goal{ref: "nginx", factor: 1.15})
	higher.add("wsedge", 120)
	higher.add("nginx", 100)
	if m, _, met := higher.evaluate(higher.goals[0]); m != "1.20x nginx" || met != "yes" {
		t.Errorf("higher is better: got %s %s", m, met)
	}
	lower := newRow("4", "w", "KiB", true, goal{ref: "nginx", factor: 0.7}, goal{bound: 12})
	lower.add("wsedge", 15)
	lower.add("nginx", 20)
	if m, _, met := lower.evaluate(lower.goals[0]); m != "0.75x nginx" || met != "**no**" {
		t.Errorf("lower is better, ratio: got %s %s", m, met)
	}
	if m, _, met := lower.evaluate(lower.goals[1]); m != "15.0" || met != "**no**" {
		t.Errorf("lower is better, bound: got %s %s", m, met)
	}
	if got := failures([]*row{higher, lower}); len(got) != 2 {
		t.Errorf("failures: %v, want the two missed goals of row 4", got)
	}
}

// TestGeneratedConfigsAreValid checks the configurations wsbench writes
// with the programs that will read them.
func TestGeneratedConfigsAreValid(t *testing.T) {
	dir := t.TempDir()
	b := &bench{dir: dir}
	certFile, keyFile, err := b.writeCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlsconf.New(tlsconf.Config{Certificates: []tlsconf.CertFile{{Cert: certFile, Key: keyFile}}, MinVersion: "1.2"}, discardLog()); err != nil {
		t.Errorf("generated certificate: %v", err)
	}
	text := wsedgeConfig(18080, 18443, "127.0.0.1:19000", certFile, keyFile)
	if _, err := config.Parse("wsedge.yaml", []byte(text), dir); err != nil {
		t.Errorf("wsedge config does not load:\n%v\n%s", err, text)
	}
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx not installed: its configuration is not checked")
	}
	prefix := filepath.Join(dir, "nginx")
	os.MkdirAll(filepath.Join(prefix, "logs"), 0o755)
	conf := filepath.Join(prefix, "nginx.conf")
	os.WriteFile(conf, []byte(nginxConfig(18081, 18444, "127.0.0.1:19000", certFile, keyFile, prefix)), 0o644)
	out, err := exec.Command(nginx, "-t", "-p", prefix, "-c", conf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "syntax is ok") {
		t.Errorf("nginx -t: %v\n%s", err, out)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
