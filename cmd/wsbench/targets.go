// The processes under test: building wsedge and wsload, the certificate
// every proxy serves, and starting the backend, wsedge, nginx and HAProxy.

package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wsedge/wsedge/tlsconf"
)

// fdMargin is how many descriptors a proxy keeps for itself besides two
// per proxied connection: listeners, logs, the runtime, a debug listener.
const fdMargin = 100

// target is something the load is pointed at.
type target struct {
	name     string
	plainURL string   // ws:// URL of the echo route
	tlsURL   string   // wss:// URL, or "" (direct has none)
	proc     *process // nil for direct: its memory is not the proxy's
	// http2 says the TLS listener accepts WebSockets over HTTP/2 (RFC
	// 8441 extended CONNECT) from clients that offer h2 in ALPN.
	http2 bool
}

// url is the target's wss:// URL if tls, its ws:// URL otherwise.
func (t *target) url(tls bool) string {
	if tls {
		return t.tlsURL
	}
	return t.plainURL
}

// buildBinaries builds wsedge and wsload into dir.
func buildBinaries(dir string) (wsedgeBin, wsloadBin string, err error) {
	wsedgeBin, wsloadBin = filepath.Join(dir, "wsedge"), filepath.Join(dir, "wsload")
	for _, build := range [][]string{{"-o", wsedgeBin, "."}, {"-o", wsloadBin, "./cmd/wsload"}} {
		cmd := exec.Command("go", append([]string{"build"}, build...)...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return "", "", fmt.Errorf("go build %s: %w", build[len(build)-1], err)
		}
	}
	return wsedgeBin, wsloadBin, nil
}

// certFiles are the certificate every proxy serves, as the files each
// wants: certificate and key apart (wsedge, nginx) or in one PEM file
// (HAProxy's crt).
type certFiles struct {
	cert, key, combined string
}

// writeCertificate writes an ECDSA P-256 certificate for 127.0.0.1 and
// its key into dir, apart and combined.
func writeCertificate(dir string) (certFiles, error) {
	c, err := tlsconf.SelfSigned([]string{"127.0.0.1", "localhost"}, 24*time.Hour)
	if err != nil {
		return certFiles{}, fmt.Errorf("certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return certFiles{}, fmt.Errorf("certificate key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	f := certFiles{
		cert:     filepath.Join(dir, "cert.pem"),
		key:      filepath.Join(dir, "key.pem"),
		combined: filepath.Join(dir, "cert+key.pem"),
	}
	for _, w := range []struct {
		path string
		data []byte
		perm os.FileMode
	}{{f.cert, certPEM, 0o644}, {f.key, keyPEM, 0o600}, {f.combined, append(certPEM, keyPEM...), 0o600}} {
		if err := os.WriteFile(w.path, w.data, w.perm); err != nil {
			return certFiles{}, fmt.Errorf("certificate: %w", err)
		}
	}
	return f, nil
}

// startBackend starts the echo backend (this program's backend
// subcommand) on addr.
func startBackend(dir, addr string) (*process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	return startProcess(dir, "backend", syscall.SIGTERM, self, "backend", "-addr", addr)
}

// startWsedge writes config and starts wsedge on it with logging at warn
// (nginx and HAProxy log nothing per connection either); extraArgs are
// more flags.
func startWsedge(dir, bin, config string, plainPort, tlsPort int, extraArgs ...string) (*target, error) {
	file := filepath.Join(dir, "wsedge.yaml")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("wsedge config: %w", err)
	}
	args := append([]string{"-config", file, "-log-level", "warn"}, extraArgs...)
	p, err := startProcess(dir, "wsedge", syscall.SIGTERM, bin, args...)
	if err != nil {
		return nil, err
	}
	return &target{name: "wsedge", proc: p, http2: true,
		plainURL: fmt.Sprintf("ws://127.0.0.1:%d/ws", plainPort), tlsURL: fmt.Sprintf("wss://127.0.0.1:%d/ws", tlsPort)}, nil
}

func startNginx(dir, bin string, plainPort, tlsPort int, backendAddr string, cert certFiles) (*target, error) {
	prefix := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(filepath.Join(prefix, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(plainPort, tlsPort, backendAddr, cert, prefix)), 0o644); err != nil {
		return nil, fmt.Errorf("nginx config: %w", err)
	}
	// SIGQUIT is nginx's graceful shutdown.
	p, err := startProcess(dir, "nginx", syscall.SIGQUIT, bin, "-p", prefix, "-c", conf, "-g", "daemon off;")
	if err != nil {
		return nil, err
	}
	return &target{name: "nginx", proc: p,
		plainURL: fmt.Sprintf("ws://127.0.0.1:%d/ws", plainPort), tlsURL: fmt.Sprintf("wss://127.0.0.1:%d/ws", tlsPort)}, nil
}

// startHAProxy checks its configuration with haproxy -c, so that a
// mistake is reported as such rather than as a target that never
// listens, then starts it in the foreground.
func startHAProxy(dir, bin string, plainPort, tlsPort int, backendAddr string, cert certFiles, maxConn int) (*target, error) {
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(haproxyConfig(plainPort, tlsPort, backendAddr, cert, maxConn)), 0o644); err != nil {
		return nil, fmt.Errorf("haproxy config: %w", err)
	}
	if err := checkHAProxyConfig(bin, conf); err != nil {
		return nil, err
	}
	// -db: foreground, one process (its threads are nbthread). SIGUSR1
	// is the soft stop: stop listening, finish the open connections.
	p, err := startProcess(dir, "haproxy", syscall.SIGUSR1, bin, "-f", conf, "-db")
	if err != nil {
		return nil, err
	}
	return &target{name: "haproxy", proc: p, http2: true,
		plainURL: fmt.Sprintf("ws://127.0.0.1:%d/ws", plainPort), tlsURL: fmt.Sprintf("wss://127.0.0.1:%d/ws", tlsPort)}, nil
}

// checkHAProxyConfig runs haproxy -c on conf.
func checkHAProxyConfig(bin, conf string) error {
	out, err := exec.Command(bin, "-c", "-f", conf).CombinedOutput()
	if err != nil {
		return fmt.Errorf("haproxy -c -f %s: the generated configuration is refused: %w\n%s", conf, err, out)
	}
	return nil
}

// haproxyVersion is the first line of haproxy -v without its prefix, or
// "" if HAProxy is not installed.
func haproxyVersion() string {
	out, err := exec.Command("haproxy", "-v").Output()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimPrefix(first, "HAProxy version ")
}
