// wsbench reload: reloads under load (issue 9). wsload holds connections
// through wsedge that exchange sequence-numbered, checksummed messages
// while wsedge's configuration is reloaded again and again, each reload
// adding or removing an unrelated route and changing the pool of another
// route. It reports the connections dropped and the messages lost,
// corrupted or reordered (all must be 0) and exits 1 otherwise. It is
// what bench/reload-under-load runs.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// reloadOptions are the flags of wsbench reload.
type reloadOptions struct {
	conns    int
	reloads  int
	interval time.Duration
	dir      string
	keep     bool
}

func runReloadUnderLoad(args []string) int {
	var o reloadOptions
	fs := flag.NewFlagSet("wsbench reload", flag.ContinueOnError)
	fs.IntVar(&o.conns, "c", 1000, "connections exchanging messages through wsedge")
	fs.IntVar(&o.reloads, "reloads", 20, "configuration reloads during the load")
	fs.DurationVar(&o.interval, "interval", time.Second, "time between reloads")
	fs.StringVar(&o.dir, "dir", "", "working directory for binaries, configs and logs (default: a new temporary one)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.conns < 1 || o.reloads < 1 || o.interval <= 0 {
		fmt.Fprintln(os.Stderr, "wsbench reload: -c and -reloads must be at least 1, -interval positive")
		return 2
	}
	r := &reloadRun{opts: o}
	defer r.close()
	if err := r.start(); err != nil {
		fmt.Fprintln(os.Stderr, "wsbench reload:", err)
		return 1
	}
	res, err := r.run()
	fmt.Print(res.report(o))
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench reload:", err)
		return 1
	}
	if !res.clean() {
		return 1
	}
	return 0
}

// reloadRun is one run: the processes and the files it rewrites.
type reloadRun struct {
	opts               reloadOptions
	dir, wsload        string
	config             string // wsedge's configuration file
	backends           [2]*process
	backendAddrs       [2]string
	wsedge             *target
	adminAddr          string
	plainPort, tlsPort int
	cert               certFiles
}

func (r *reloadRun) start() error {
	dir, err := workDir(r.opts.dir)
	if err != nil {
		return err
	}
	r.dir = dir
	fmt.Fprintf(os.Stderr, "wsbench reload: working in %s\n", dir)
	wsedgeBin, wsloadBin, err := buildBinaries(dir)
	if err != nil {
		return err
	}
	r.wsload = wsloadBin
	if r.cert, err = writeCertificate(dir); err != nil {
		return err
	}
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	for i := range r.backends {
		r.backendAddrs[i] = fmt.Sprintf("127.0.0.1:%d", ports[i])
		bdir := filepath.Join(dir, "backend"+strconv.Itoa(i+1))
		if err := os.MkdirAll(bdir, 0o755); err != nil {
			return err
		}
		if r.backends[i], err = startBackend(bdir, r.backendAddrs[i]); err != nil {
			return err
		}
	}
	r.plainPort, r.tlsPort, r.adminAddr = ports[2], ports[3], fmt.Sprintf("127.0.0.1:%d", ports[4])
	if r.wsedge, err = startWsedge(dir, wsedgeBin, r.configText(0), r.plainPort, r.tlsPort); err != nil {
		return err
	}
	r.config = filepath.Join(dir, "wsedge.yaml")
	for _, u := range []string{"ws://" + r.backendAddrs[0], "ws://" + r.backendAddrs[1], r.wsedge.plainURL, "http://" + r.adminAddr} {
		if err := waitListening(u); err != nil {
			return err
		}
	}
	return nil
}

// configText is the configuration of reload i: the load's route stays;
// an unrelated route comes and goes; another route's pool changes.
func (r *reloadRun) configText(i int) string {
	base := wsedgeConfig(r.plainPort, r.tlsPort, r.backendAddrs[0], r.cert) +
		fmt.Sprintf("  - name: pool\n    path: /pool\n    backends: [%s]\n", r.pool(i)) +
		fmt.Sprintf("admin:\n  listen: %q\n", r.adminAddr)
	if i%2 == 1 {
		base = strings.Replace(base, "routes:\n", fmt.Sprintf("routes:\n  - name: extra-%d\n    path: /extra\n    backend: ws://%s/\n", i, r.backendAddrs[1]), 1)
	}
	return base
}

func (r *reloadRun) pool(i int) string {
	if i%2 == 1 {
		return fmt.Sprintf("ws://%s/, ws://%s/", r.backendAddrs[0], r.backendAddrs[1])
	}
	return fmt.Sprintf("ws://%s/", r.backendAddrs[0])
}

// reloadResult is what a run found.
type reloadResult struct {
	load            loadResult
	reloadsOK       int
	reloadErrors    []string
	wsedgeCloses    float64 // connections wsedge saw end before the load did
	loadExitErr     string
	loadDuration    time.Duration
	reloadTimeTotal time.Duration
}

func (res *reloadResult) clean() bool {
	l := res.load
	return res.loadExitErr == "" && len(res.reloadErrors) == 0 && l.Lost+l.Corrupted+l.Reordered+l.Errors+l.ConnsFailed == 0 && res.wsedgeCloses == 0
}

// run starts the load, reloads while it runs, and collects the results.
func (r *reloadRun) run() (*reloadResult, error) {
	res := &reloadResult{}
	// Room to open the connections, the reloads, and a margin at the end.
	ramp := 2000.0
	duration := time.Duration(float64(r.opts.conns)/ramp*float64(time.Second)) + time.Duration(r.opts.reloads+3)*r.opts.interval
	res.loadDuration = duration
	l := load{mode: "echo", conns: r.opts.conns, size: 64, duration: duration, extra: []string{"-ramp", strconv.FormatFloat(ramp, 'f', -1, 64)}}
	ctx, cancel := context.WithTimeout(context.Background(), duration+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.wsload, l.args(r.wsedge.plainURL)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("wsload: %w", err)
	}
	// Wait until every connection is open, then reload.
	deadline := time.Now().Add(time.Minute)
	for r.openConnections() < float64(r.opts.conns) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			return res, fmt.Errorf("only %v of %d connections opened", r.openConnections(), r.opts.conns)
		}
		time.Sleep(50 * time.Millisecond) // a poll of a separate process
	}
	tick := time.NewTicker(r.opts.interval)
	for i := 1; i <= r.opts.reloads; i++ {
		<-tick.C
		start := time.Now()
		if err := r.reload(i); err != nil {
			res.reloadErrors = append(res.reloadErrors, fmt.Sprintf("reload %d: %v", i, err))
			continue
		}
		res.reloadTimeTotal += time.Since(start)
		res.reloadsOK++
	}
	tick.Stop()
	// Connections wsedge closed while the load was still running.
	closes, err := r.metric("wsedge_closes_total")
	if err != nil {
		return res, err
	}
	res.wsedgeCloses = closes
	runErr := cmd.Wait()
	if runErr != nil {
		res.loadExitErr = fmt.Sprintf("%v: %s", runErr, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(stdout.Bytes(), &res.load); err != nil {
		return res, fmt.Errorf("wsload's summary: %w (%s)", err, stderr.String())
	}
	return res, nil
}

// reload rewrites the configuration and asks wsedge to apply it.
func (r *reloadRun) reload(i int) error {
	if err := os.WriteFile(r.config+".new", []byte(r.configText(i)), 0o600); err != nil {
		return err
	}
	if err := os.Rename(r.config+".new", r.config); err != nil {
		return err
	}
	resp, err := http.Post("http://"+r.adminAddr+"/reload", "text/plain", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// openConnections reads wsedge's connections open on the load's route.
func (r *reloadRun) openConnections() float64 {
	v, _ := r.metric("wsedge_connections_open")
	return v
}

// metric sums the samples of one metric family from wsedge's /metrics.
func (r *reloadRun) metric(name string) (float64, error) {
	resp, err := http.Get("http://" + r.adminAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	sum, found := 0.0, false
	for line := range strings.SplitSeq(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", name, line, err)
		}
		sum, found = sum+v, true
	}
	if !found && name != "wsedge_closes_total" && name != "wsedge_connections_open" {
		return 0, errors.New(name + ": not in /metrics")
	}
	return sum, nil
}

func (res *reloadResult) report(o reloadOptions) string {
	var b strings.Builder
	b.WriteString(machineLines())
	fmt.Fprintf(&b, "load: %d connections, 64 B echo, sequence-numbered and checksummed, %v\n", o.conns, res.loadDuration.Round(time.Second))
	fmt.Fprintf(&b, "reloads: %d of %d applied, every %v (an unrelated route added or removed, another route's pool changed)", res.reloadsOK, o.reloads, o.interval)
	if res.reloadsOK > 0 {
		fmt.Fprintf(&b, ", %v per reload request", (res.reloadTimeTotal / time.Duration(res.reloadsOK)).Round(time.Microsecond))
	}
	b.WriteString("\n\n| connections | messages | msgs/s | lost | corrupted | reordered | errors | failed to open | closed by wsedge |\n|---|---|---|---|---|---|---|---|---|\n")
	l := res.load
	fmt.Fprintf(&b, "| %d | %d | %.0f | %d | %d | %d | %d | %d | %.0f |\n", l.ConnsOpened, l.MessagesMeasured, l.MsgsPerSec, l.Lost, l.Corrupted, l.Reordered, l.Errors, l.ConnsFailed, res.wsedgeCloses)
	for _, e := range res.reloadErrors {
		fmt.Fprintln(&b, e)
	}
	if res.loadExitErr != "" {
		fmt.Fprintln(&b, "wsload:", res.loadExitErr)
	}
	if res.clean() {
		b.WriteString("\nnothing dropped, lost, corrupted or reordered\n")
	}
	return b.String()
}

func (r *reloadRun) close() {
	if r.wsedge != nil && r.wsedge.proc != nil {
		r.wsedge.proc.stop()
	}
	for _, p := range r.backends {
		if p != nil {
			p.stop()
		}
	}
	if !r.opts.keep && r.opts.dir == "" && r.dir != "" {
		os.RemoveAll(r.dir)
	}
}
