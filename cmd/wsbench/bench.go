package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
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
	syscalls string // how system calls are counted: auto, perf, strace or off
}

// wants reports whether workload n was selected (-only, or all).
func (o *options) wants(n string) bool {
	return o.only == "" || strings.Contains(","+o.only+",", ","+n+",")
}

// bench is one benchmark session: the working directory, the built
// binaries, and the running targets.
type bench struct {
	opts    options
	dir     string
	wsload  string // path of the built load tool
	backend *process
	targets []*target // direct, wsedge, and nginx and haproxy when installed
	// withMetrics is wsedge with its metrics on (an admin listener), for
	// workloads 1 and 2 only: what counting costs.
	withMetrics *target
	notes       []string // lines for the report (skipped targets, versions)
	steal       stealMeter
}

func newBench(o options) (*bench, error) {
	dir, err := workDir(o.dir)
	if err != nil {
		return nil, err
	}
	return &bench{opts: o, dir: dir}, nil
}

// workDir checks that wsbench runs from the repository root (it builds
// from there) and returns dir, or a new temporary directory if dir is "".
func workDir(dir string) (string, error) {
	if _, err := os.Stat("go.mod"); err != nil {
		return "", fmt.Errorf("run from the repository root (no go.mod here)")
	}
	if dir != "" {
		return dir, os.MkdirAll(dir, 0o755)
	}
	d, err := os.MkdirTemp("", "wsbench")
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	return d, nil
}

// start builds the binaries, writes the certificate and configurations,
// and starts the backend, wsedge and (if installed) nginx and HAProxy.
func (b *bench) start() error {
	fmt.Fprintf(os.Stderr, "wsbench: working in %s\n", b.dir)
	wsedgeBin, wsloadBin, err := buildBinaries(b.dir)
	if err != nil {
		return err
	}
	b.wsload = wsloadBin
	cert, err := writeCertificate(b.dir)
	if err != nil {
		return err
	}
	ports, err := freePorts(10)
	if err != nil {
		return err
	}
	backendAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	if b.backend, err = startBackend(b.dir, backendAddr); err != nil {
		return err
	}
	b.targets = append(b.targets, &target{name: "direct", plainURL: "ws://" + backendAddr + "/ws"})

	wsedgeCfg := wsedgeConfig(ports[1], ports[2], backendAddr, cert)
	t, err := startWsedge(b.dir, wsedgeBin, wsedgeCfg, ports[1], ports[2])
	if err != nil {
		return err
	}
	b.targets = append(b.targets, t)
	if b.opts.wants("1") || b.opts.wants("2") {
		cfg := wsedgeConfig(ports[7], ports[8], backendAddr, cert) + fmt.Sprintf("admin:\n  listen: \"127.0.0.1:%d\"\n", ports[9])
		dir := filepath.Join(b.dir, "with-metrics")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if b.withMetrics, err = startWsedge(dir, wsedgeBin, cfg, ports[7], ports[8]); err != nil {
			return err
		}
		b.withMetrics.name = "wsedge-metrics"
		if err := waitListening(b.withMetrics.plainURL); err != nil {
			return fmt.Errorf("%s: %w", b.withMetrics.name, err)
		}
	}
	if err := b.startReference("nginx", func(bin string) (*target, error) {
		return startNginx(b.dir, bin, ports[3], ports[4], backendAddr, cert)
	}); err != nil {
		return err
	}
	if err := b.startReference("haproxy", func(bin string) (*target, error) {
		return startHAProxy(b.dir, bin, ports[5], ports[6], backendAddr, cert, b.haproxyMaxConn())
	}); err != nil {
		return err
	}
	for _, t := range b.targets {
		if err := waitListening(t.plainURL); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	return nil
}

// startReference starts a reference proxy if its binary is installed,
// and notes that it was skipped otherwise.
func (b *bench) startReference(name string, start func(bin string) (*target, error)) error {
	bin, err := exec.LookPath(name)
	if err != nil {
		b.notes = append(b.notes, fmt.Sprintf("%s: not installed, skipped (apt-get install %s to compare)", name, name))
		return nil
	}
	t, err := start(bin)
	if err != nil {
		return err
	}
	b.targets = append(b.targets, t)
	return nil
}

// haproxyMaxConn is HAProxy's maxconn: room for the idle workload's
// connections and a margin, within the descriptors this process may
// hand down (two per proxied connection).
func (b *bench) haproxyMaxConn() int {
	want := max(b.opts.idle+1000, 4096)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return want
	}
	// An unlimited hard limit is capped at the kernel's default nr_open.
	return min(want, (int(min(lim.Max, 1<<20))-fdMargin)/2)
}

// proxies are the targets with a proxy process (all but direct).
func (b *bench) proxies() []*target {
	var out []*target
	for _, t := range b.targets {
		if t.proc != nil {
			out = append(out, t)
		}
	}
	return out
}

func (b *bench) close() {
	for _, t := range append(b.targets, b.withMetrics) {
		if t != nil && t.proc != nil {
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
	s.WriteString(machineLines())
	if out, err := exec.Command("nginx", "-v").CombinedOutput(); err == nil {
		fmt.Fprintf(&s, "nginx: %s", strings.TrimPrefix(string(out), "nginx version: "))
	}
	if v := haproxyVersion(); v != "" {
		fmt.Fprintf(&s, "haproxy: %s\n", v)
	}
	fmt.Fprintf(&s, "runs: %d per target, interleaved; %v each; medians\n", b.opts.runs, b.opts.duration)
	fmt.Fprintf(&s, "cpu steal while loads ran: %.1f%% (time the hypervisor gave to other guests; runs above %.0f%% were repeated, up to %d times)\n", b.steal.percent(), b.opts.maxSteal, maxAttempts)
	for _, n := range b.notes {
		fmt.Fprintln(&s, n)
	}
	return s.String()
}

// machineLines are the machine and Go version, for every report.
func machineLines() string {
	return fmt.Sprintf("machine: %s, %d cores, %s\ngo: %s\n", cpuModel(), runtime.NumCPU(), kernel(), runtime.Version())
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
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
