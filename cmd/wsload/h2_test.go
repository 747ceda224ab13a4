// Handshake mode over HTTP/2 (-h2-conns) against a real wsedge, built
// from this repository, in front of a loopback echo server: the same
// measurement as over HTTP/1.1, with the WebSockets as streams of the
// TLS connections asked for.

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/wstest"
)

func TestHandshakeModeOverHTTP2(t *testing.T) {
	t.Parallel()
	backend := newTestServer(t, echoAll, false)
	edge := startWsedge(t, backend.wsURL())
	for _, tc := range []struct {
		name    string
		workers int
		h2Conns int // 0: HTTP/1.1
	}{
		{"http/1.1", 2, 0},
		{"http/2, one connection", 4, 1},
		{"http/2, two connections", 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := backend.upgrades.Load()
			s, res := runJSON(t, "-url", edge.url, "-ca", edge.caFile, "-mode", "handshake",
				"-c", strconv.Itoa(tc.workers), "-h2-conns", strconv.Itoa(tc.h2Conns),
				"-duration", "300ms", "-progress", "0")
			if res.code != 0 || s.Errors != 0 || s.Handshakes == 0 {
				t.Fatalf("exit %d, %d handshakes, errors %d %q: want 0, some handshakes and no errors; stderr: %s",
					res.code, s.Handshakes, s.Errors, s.ErrorSamples, res.stderr)
			}
			if s.H2Conns != int64(tc.h2Conns) {
				t.Errorf("h2_conns %d, want %d", s.H2Conns, tc.h2Conns)
			}
			if tc.h2Conns > 0 && s.Handshakes <= uint64(tc.h2Conns) {
				t.Errorf("%d handshakes on %d TLS connections: want several WebSockets per connection", s.Handshakes, tc.h2Conns)
			}
			// Every counted handshake reached the backend through wsedge;
			// a handshake cut by the end of the run reaches it uncounted.
			// Everything is closed again, through wsedge, at the end.
			waitFor(t, 5*time.Second, "the backend to see every connection closed", func() bool { return backend.open.Load() == 0 })
			upgrades := uint64(backend.upgrades.Load() - before)
			if upgrades < s.Handshakes || upgrades > s.Handshakes+uint64(tc.workers) {
				t.Errorf("the backend upgraded %d connections for %d handshakes counted by %d workers", upgrades, s.Handshakes, tc.workers)
			}
			if l := s.LatencyUS; l.P50 <= 0 || l.Max < l.P50 {
				t.Errorf("handshake latency %+v: want positive, ordered figures", l)
			}
		})
	}
}

// wsedgeProcess is a wsedge started by a test.
type wsedgeProcess struct {
	url    string // wss:// URL of its route to the backend
	caFile string // PEM of the CA its certificate is signed by
}

// startWsedge builds wsedge and runs it, with its default settings
// (listen.http2 on), in front of backendURL on /ws; it is stopped when
// the test ends.
func startWsedge(t *testing.T, backendURL string) *wsedgeProcess {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "wsedge")
	if out, err := exec.Command("go", "build", "-o", bin, "../..").CombinedOutput(); err != nil {
		t.Fatalf("go build wsedge: %v\n%s", err, out)
	}
	ca := wstest.NewCert(t, wstest.CertOptions{Names: []string{"wsload test CA"}, CA: true})
	leaf := wstest.NewCert(t, wstest.CertOptions{Names: []string{"127.0.0.1"}, Parent: ca})
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	leaf.Install(t, certFile, keyFile)
	wstest.WriteFileAtomically(t, caFile, ca.CertPEM)

	addr := wstest.ClosedAddr(t)
	config := fmt.Sprintf(`listen:
  https: %q
tls:
  certificates:
    - cert: %s
      key: %s
routes:
  - path: /ws
    backend: %s
`, addr, certFile, keyFile, backendURL)
	configFile := filepath.Join(dir, "wsedge.yaml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs wstest.LogBuffer
	cmd := exec.Command(bin, "-config", configFile, "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start wsedge: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
			}
			t.Errorf("wsedge did not stop within 10s of SIGTERM; its log:\n%s", logs.String())
		}
	})
	waitFor(t, 10*time.Second, "wsedge to listen on "+addr, func() bool {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("wsedge exited: %v; its log:\n%s", err, logs.String())
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return &wsedgeProcess{url: "wss://" + addr + "/ws", caFile: caFile}
}
