package interop

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/wstest"
)

// binDir is where TestMain lets the suite build the wsedge binary; it is
// removed when the tests end.
var binDir string

var wsedgeBuild struct {
	once sync.Once
	path string
	err  error
	out  string
}

// wsedgeBinary builds wsedge (the module's main package) once per test
// run into binDir, with -race when the tests run with it, so a data race
// inside wsedge while real peers talk through it fails the test that
// saw it (see stop).
func wsedgeBinary(t *testing.T) string {
	t.Helper()
	wsedgeBuild.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			wsedgeBuild.err = fmt.Errorf("go is not on PATH: %w", err)
			return
		}
		root, err := filepath.Abs("..")
		if err != nil {
			wsedgeBuild.err = err
			return
		}
		wsedgeBuild.path = filepath.Join(binDir, "wsedge")
		args := []string{"build", "-o", wsedgeBuild.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command(goTool, append(args, ".")...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		wsedgeBuild.err, wsedgeBuild.out = err, string(out)
	})
	if wsedgeBuild.err != nil {
		t.Fatalf("go build wsedge: %v\n%s", wsedgeBuild.err, wsedgeBuild.out)
	}
	return wsedgeBuild.path
}

// route is one entry of wsedge's routes: section.
type route struct {
	Name        string
	Path        string
	Backend     string // ws://host:port/{param}
	Handler     string // or a built-in: echo, broadcast
	Compression string // "" leaves wsedge's default (passthrough)
}

func (r route) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - name: %s\n    path: %s\n", r.Name, r.Path)
	if r.Backend != "" {
		fmt.Fprintf(&b, "    backend: %q\n", r.Backend)
	}
	if r.Handler != "" {
		fmt.Fprintf(&b, "    handler: %s\n", r.Handler)
	}
	if r.Compression != "" {
		fmt.Fprintf(&b, "    compression: %s\n", r.Compression)
	}
	return b.String()
}

// edge is a running wsedge process serving on loopback: wss:// and
// https:// on HTTPSAddr with a certificate the test generated, ws:// and
// http:// on HTTPAddr, and its admin listener (readiness, /metrics) on
// AdminAddr.
type edge struct {
	HTTPSAddr, HTTPAddr, AdminAddr string
	Cert                           *wstest.Cert
	CertFile                       string // the certificate as PEM, for clients to trust

	cmd  *exec.Cmd
	logs *edgeLog // its stdout and stderr, see waitRecords
	done chan struct{}
	err  error // the process's exit, once done is closed
	// killed: kill ended the process, which stop then only checks.
	killed bool
}

// edgeOptions say how startEdge configures wsedge beyond its routes.
type edgeOptions struct {
	// Cert is served on the TLS listener; nil: a new certificate for
	// 127.0.0.1 and localhost.
	Cert *wstest.Cert
	// HTTP1Only sets listen.http2: false, so that browsers open their
	// WebSockets over HTTP/1.1; otherwise wsedge's default applies
	// (h2 offered, WebSockets over HTTP/2 streams, RFC 8441).
	HTTP1Only bool
	// Extra is YAML appended to the configuration: further top-level
	// sections, such as cluster.
	Extra string
}

// startEdge writes a configuration with routes and starts the wsedge
// binary on it, as o says, and waits until its admin listener reports
// ready.
// wsedge is stopped with SIGTERM when the test ends; a non-zero exit or a
// data race report fails the test.
func startEdge(t *testing.T, o edgeOptions, routes ...route) *edge {
	t.Helper()
	bin := wsedgeBinary(t)
	cert := o.Cert
	if cert == nil {
		cert = newCert(t)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "cert-key.pem")
	cert.Install(t, certFile, keyFile)
	// The ports are found free and then given to wsedge, which may lose
	// one to another process in between: then it says so and exits, and
	// it is started again on new ports.
	for attempt := 1; ; attempt++ {
		e := &edge{
			HTTPSAddr: wstest.ClosedAddr(t), HTTPAddr: wstest.ClosedAddr(t), AdminAddr: wstest.ClosedAddr(t),
			Cert: cert, CertFile: certFile, logs: newEdgeLog(), done: make(chan struct{}),
		}
		cfg := fmt.Sprintf(`listen:
  https: %q
  http: %q
tls:
  certificates:
    - cert: %s
      key: %s
limits:
  max_message_bytes: %s
shutdown:
  drain_timeout: 5s
admin:
  listen: %q
routes:
`, e.HTTPSAddr, e.HTTPAddr, certFile, keyFile, maxMessageBytes, e.AdminAddr)
		for _, r := range routes {
			cfg += r.yaml()
		}
		cfg += o.Extra
		if o.HTTP1Only {
			cfg = strings.Replace(cfg, "listen:\n", "listen:\n  http2: false\n", 1)
		}
		cfgFile := filepath.Join(dir, "wsedge.yaml")
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		e.cmd = exec.Command(bin, "-config", cfgFile, "-log-level", "debug")
		e.cmd.Stdout, e.cmd.Stderr = e.logs, e.logs
		e.cmd.SysProcAttr = childProcAttr()
		if err := e.cmd.Start(); err != nil {
			t.Fatalf("start wsedge: %v", err)
		}
		go func() {
			e.err = e.cmd.Wait()
			close(e.done)
		}()
		if e.waitReady(t) {
			t.Cleanup(func() { e.stop(t) })
			return e
		}
		if !strings.Contains(e.logs.String(), "address already in use") || attempt == 3 {
			t.Fatalf("wsedge exited before it was ready (%v); configuration:\n%s\nlog:\n%s", e.err, cfg, e.logs)
		}
	}
}

// waitReady polls the admin listener's /readyz until it answers 200, and
// reports false if wsedge exits first. It fails the test after waitLimit.
func (e *edge) waitReady(t *testing.T) bool {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get("http://" + e.AdminAddr + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		select {
		case <-e.done:
			return false
		case <-deadline.C:
			e.cmd.Process.Kill()
			<-e.done
			t.Fatalf("wsedge not ready within %v; log:\n%s", waitLimit, e.logs)
		case <-tick.C:
		}
	}
}

// kill ends wsedge at once with SIGKILL, as a crash or a lost machine
// would: no drain, no close frames. It is for the test's own goroutine.
func (e *edge) kill(t *testing.T) {
	e.killed = true
	e.cmd.Process.Kill()
	select {
	case <-e.done:
	case <-time.After(waitLimit):
		t.Fatalf("wsedge did not exit within %v of SIGKILL", waitLimit)
	}
}

// stop sends SIGTERM (a graceful shutdown: every connection gets 1001)
// and waits; wsedge must exit 0 without reporting a data race.
func (e *edge) stop(t *testing.T) {
	if !e.killed {
		e.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-e.done:
	case <-time.After(waitLimit):
		e.cmd.Process.Kill()
		<-e.done
		t.Errorf("wsedge did not stop within %v of SIGTERM", waitLimit)
	}
	logs := e.logs.String()
	if e.err != nil && !e.killed {
		t.Errorf("wsedge exited with %v", e.err)
	}
	if strings.Contains(logs, "WARNING: DATA RACE") {
		t.Errorf("wsedge reported a data race")
	}
	if t.Failed() {
		t.Logf("wsedge log:\n%s", logs)
	}
}

// wssURL is the wss:// URL of path on the edge's TLS listener.
func (e *edge) wssURL(path string) string { return "wss://" + e.HTTPSAddr + path }

// wsURL is the ws:// URL of path on the edge's plain listener.
func (e *edge) wsURL(path string) string { return "ws://" + e.HTTPAddr + path }

// httpsOrigin is the Origin of a page served by the edge's TLS listener.
func (e *edge) httpsOrigin() string { return "https://" + e.HTTPSAddr }

// httpsClient is an HTTP client that trusts only the edge's certificate.
func (e *edge) httpsClient() *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(e.Cert.Leaf)
	return &http.Client{
		Timeout:   waitLimit,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
	}
}

// metric returns the value of the /metrics sample named name with
// exactly the labels given ("route", "logs", "direction", ...), or 0 when
// there is none yet.
func (e *edge) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.AdminAddr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("wsedge /metrics: %v", err)
	}
	defer resp.Body.Close()
	var want []string
	for i := 0; i+1 < len(labels); i += 2 {
		want = append(want, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		value, ok := strings.CutPrefix(line, name+" ") // a sample without labels
		if !ok || len(want) > 0 {
			rest, ok := strings.CutPrefix(line, name+"{")
			if !ok {
				continue
			}
			var labelText string
			labelText, value, ok = strings.Cut(rest, "} ")
			if !ok || !sameLabels(labelText, want) {
				continue
			}
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			t.Fatalf("wsedge /metrics: %q: %v", line, err)
		}
		return v
	}
	return 0
}

// sameLabels reports whether a sample's label text holds exactly want
// (each `name="value"`), in any order. Label values in the suite hold no
// commas.
func sameLabels(labelText string, want []string) bool {
	got := strings.Split(labelText, ",")
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g == w {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// newCert makes a certificate for 127.0.0.1 and localhost.
func newCert(t *testing.T) *wstest.Cert {
	t.Helper()
	return wstest.NewCert(t, wstest.CertOptions{Names: []string{"127.0.0.1", "localhost"}})
}
