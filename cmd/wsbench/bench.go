package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/wsedge/wsedge/tlsconf"
)

// options are wsbench's flags.
type options struct {
	runs     int
	duration time.Duration
	idle     int
	only     string
	dir      string
	keep     bool
	maxSteal float64
}

// bench is one benchmark session: the working directory, the built
// binaries, and the running targets.
type bench struct {
	opts    options
	dir     string
	wsload  string // path of the built load tool
	backend *process
	targets []*target // direct, wsedge, and nginx when installed
	notes   []string  // lines for the report (skipped targets, versions)
	steal   stealMeter
}

// target is something the load is pointed at.
type target struct {
	name     string
	plainURL string   // ws:// URL of the echo route
	tlsURL   string   // wss:// URL, or "" (direct has none)
	proc     *process // nil for direct: its memory is not the proxy's
}

func newBench(o options) (*bench, error) {
	if _, err := os.Stat("go.mod"); err != nil {
		return nil, fmt.Errorf("run from the repository root (no go.mod here)")
	}
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "wsbench")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	return &bench{opts: o, dir: dir}, nil
}

// start builds the binaries, writes the certificate and configurations,
// and starts the backend, wsedge and (if present) nginx.
func (b *bench) start() error {
	fmt.Fprintf(os.Stderr, "wsbench: working in %s\n", b.dir)
	wsedgeBin := filepath.Join(b.dir, "wsedge")
	b.wsload = filepath.Join(b.dir, "wsload")
	for _, build := range [][]string{{"-o", wsedgeBin, "."}, {"-o", b.wsload, "./cmd/wsload"}} {
		cmd := exec.Command("go", append([]string{"build"}, build...)...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", build[len(build)-1], err)
		}
	}
	certFile, keyFile, err := b.writeCertificate()
	if err != nil {
		return err
	}
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	backendAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if b.backend, err = startProcess(b.dir, "backend", self, "backend", "-addr", backendAddr); err != nil {
		return err
	}
	b.targets = append(b.targets, &target{name: "direct", plainURL: "ws://" + backendAddr + "/ws"})

	wsedgeCfg := filepath.Join(b.dir, "wsedge.yaml")
	if err := os.WriteFile(wsedgeCfg, []byte(wsedgeConfig(ports[1], ports[2], backendAddr, certFile, keyFile)), 0o600); err != nil {
		return err
	}
	p, err := startProcess(b.dir, "wsedge", wsedgeBin, "-config", wsedgeCfg, "-log-level", "warn")
	if err != nil {
		return err
	}
	b.targets = append(b.targets, &target{name: "wsedge", proc: p,
		plainURL: fmt.Sprintf("ws://127.0.0.1:%d/ws", ports[1]), tlsURL: fmt.Sprintf("wss://127.0.0.1:%d/ws", ports[2])})

	nginxBin, err := exec.LookPath("nginx")
	if err != nil {
		b.notes = append(b.notes, "nginx: not installed, skipped (apt-get install nginx to compare)")
	} else {
		if err := b.startNginx(nginxBin, ports[3], ports[4], backendAddr, certFile, keyFile); err != nil {
			return err
		}
	}
	for _, t := range b.targets {
		if err := waitListening(t.plainURL); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	return nil
}

func (b *bench) startNginx(bin string, plainPort, tlsPort int, backendAddr, certFile, keyFile string) error {
	prefix := filepath.Join(b.dir, "nginx")
	if err := os.MkdirAll(filepath.Join(prefix, "logs"), 0o755); err != nil {
		return err
	}
	conf := filepath.Join(prefix, "nginx.conf")
	text := nginxConfig(plainPort, tlsPort, backendAddr, certFile, keyFile, prefix)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	p, err := startProcess(b.dir, "nginx", bin, "-p", prefix, "-c", conf, "-g", "daemon off;")
	if err != nil {
		return err
	}
	b.targets = append(b.targets, &target{name: "nginx", proc: p,
		plainURL: fmt.Sprintf("ws://127.0.0.1:%d/ws", plainPort), tlsURL: fmt.Sprintf("wss://127.0.0.1:%d/ws", tlsPort)})
	return nil
}

// writeCertificate writes an ECDSA P-256 certificate for 127.0.0.1 and
// its key into the working directory, for wsedge and nginx alike.
func (b *bench) writeCertificate() (string, string, error) {
	c, err := tlsconf.SelfSigned([]string{"127.0.0.1", "localhost"}, 24*time.Hour)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile := filepath.Join(b.dir, "cert.pem"), filepath.Join(b.dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

func (b *bench) close() {
	for _, t := range b.targets {
		if t.proc != nil {
			t.proc.stop()
		}
	}
	if b.backend != nil {
		b.backend.stop()
	}
	if !b.opts.keep && b.opts.dir == "" {
		os.RemoveAll(b.dir)
	}
}

// environment describes the machine and versions for the report.
func (b *bench) environment() string {
	var s strings.Builder
	fmt.Fprintf(&s, "machine: %s, %d cores, %s\n", cpuModel(), runtime.NumCPU(), kernel())
	fmt.Fprintf(&s, "go: %s\n", runtime.Version())
	if out, err := exec.Command("nginx", "-v").CombinedOutput(); err == nil {
		fmt.Fprintf(&s, "nginx: %s", strings.TrimPrefix(string(out), "nginx version: "))
	}
	fmt.Fprintf(&s, "runs: %d per target, interleaved; %v each; medians\n", b.opts.runs, b.opts.duration)
	fmt.Fprintf(&s, "cpu steal while loads ran: %.1f%% (time the hypervisor gave to other guests; runs above %.0f%% were repeated, up to %d times)\n", b.steal.percent(), b.opts.maxSteal, maxAttempts)
	for _, n := range b.notes {
		fmt.Fprintln(&s, n)
	}
	return s.String()
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func kernel() string {
	data, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "Linux " + strings.TrimSpace(string(data))
}

// freePorts finds n free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
