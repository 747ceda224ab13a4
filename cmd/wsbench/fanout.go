// wsbench fanout: what a broadcast room costs when its members are spread
// over several wsedge instances on one NATS server (issue 12), against
// the same members on one instance. It is what bench/fanout runs.
//
// One publisher and n members (1,000 by default) join one room of the
// broadcast built-in, echo_self off so that the publisher gets nothing
// back and only members count. In the "1 instance" scenario they are all
// on one wsedge without a cluster section; in the "3 instances" scenario
// the members are split evenly (334/333/333) over three wsedge instances
// sharing one NATS server, and the publisher is on the first. Each run of
// a scenario starts its wsedge processes afresh and measures, for each
// message size:
//
//   - throughput: the publisher sends as fast as the room takes its
//     messages (wsedge stops reading it while members' queues are full:
//     the designed backpressure), and the members' deliveries per second
//     are counted over a fixed window after a warm-up;
//   - latency: the publisher sends at fixed rates, well below what one
//     instance saturates at, and every delivery's publish-to-delivery
//     time is recorded (the message carries its send time, on the clock
//     this process shares with its members).
//
// After each phase every member must have got every message: losses,
// gaps and reorderings are counted, and the exit status is 1 if there
// were any or a scenario could not run, never on timing. Scenarios
// alternate (ABBA) over the repeats and medians are reported, with the
// CPU steal, the CPU of each process (wsedge instances, NATS, and this
// process: the members and the publisher), wsedge's RSS, and the
// wsedge_cluster_* metrics and NATS's counters.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// fanoutRoute is the broadcast route's path; every member is in the
	// room fanoutRoom.
	fanoutRoute = "/fanout/:room"
	fanoutRoom  = "bench"
	// fanoutSettle bounds how long a phase waits for its last messages
	// once no member got one more: the phase's losses are what is still
	// missing then.
	fanoutSettle = 5 * time.Second
	// fanoutDialers is how many members connect at once.
	fanoutDialers = 32
)

// The scenarios -scenarios may name.
const (
	scenarioLocal     = "local"      // one instance, no cluster section
	scenarioLocalNATS = "local+nats" // one instance with a cluster section
	scenarioCluster   = "cluster"    // -instances instances on NATS
)

// fanoutOptions are the flags of wsbench fanout.
type fanoutOptions struct {
	members   int
	instances int
	scenarios []string
	repeats   int
	duration  time.Duration // each phase's measured window
	warmup    time.Duration // before each window
	sizes     []int         // message sizes in bytes
	rates     []float64     // the latency phases' publishing rates, msgs/s
	nats      string        // auto, system or embedded
	install   bool          // apt-get install nats-server if missing
	pprof     bool          // CPU profiles of wsedge in the last repeat
	dir       string
	keep      bool
}

func parseFanoutFlags(args []string) (fanoutOptions, error) {
	var o fanoutOptions
	fs := flag.NewFlagSet("wsbench fanout", flag.ContinueOnError)
	fs.IntVar(&o.members, "members", 1000, "members of the room (the publisher is one more connection)")
	fs.IntVar(&o.instances, "instances", 3, "wsedge instances of the cluster scenario, the members split evenly over them")
	scenarios := fs.String("scenarios", scenarioLocal+","+scenarioCluster, "comma-separated scenarios: "+scenarioLocal+" (one instance, no cluster), "+scenarioLocalNATS+" (one instance with a cluster section), "+scenarioCluster+" (-instances instances on one NATS)")
	fs.IntVar(&o.repeats, "repeats", 3, "runs of each scenario, alternating (medians are reported)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured window of each phase")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "load before each measured window")
	sizes := fs.String("size", "64,1024", "comma-separated message sizes in bytes (at least "+strconv.Itoa(fanoutHeaderLen)+")")
	rates := fs.String("rates", "20,50", "comma-separated publishing rates of the latency phases, messages per second (each is delivered to every member)")
	fs.StringVar(&o.nats, "nats", "auto", "NATS server: system (nats-server on PATH), embedded (github.com/nats-io/nats-server/v2 in a wsbench subprocess) or auto (system if installed)")
	fs.BoolVar(&o.install, "install", false, "apt-get install nats-server if it is not on PATH")
	fs.BoolVar(&o.pprof, "pprof", false, "take CPU profiles of every wsedge during the first throughput window of each scenario's last run (kept in the working directory: implies -keep)")
	fs.StringVar(&o.dir, "dir", "", "working directory for binaries, configs and logs (default: a new temporary one)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.scenarios, err = parseScenarios(*scenarios); err != nil {
		return o, fmt.Errorf("-scenarios: %w", err)
	}
	if o.sizes, err = parseList(*sizes, strconv.Atoi); err != nil {
		return o, fmt.Errorf("-size: %w", err)
	}
	if o.rates, err = parseList(*rates, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }); err != nil {
		return o, fmt.Errorf("-rates: %w", err)
	}
	o.keep = o.keep || o.pprof
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.instances < 2:
		return o, fmt.Errorf("-instances %d: the cluster scenario needs at least 2", o.instances)
	case o.members < o.instances:
		return o, fmt.Errorf("-members %d: want at least one per instance (%d)", o.members, o.instances)
	case o.repeats < 1:
		return o, fmt.Errorf("-repeats %d: must be at least 1", o.repeats)
	case o.duration <= 0 || o.warmup < 0:
		return o, errors.New("-duration must be positive and -warmup not negative")
	case o.nats != "auto" && o.nats != "system" && o.nats != "embedded":
		return o, fmt.Errorf("-nats %q: want auto, system or embedded", o.nats)
	}
	for _, s := range o.sizes {
		if s < fanoutHeaderLen || s > fanoutMaxSize {
			return o, fmt.Errorf("-size %d: want %d to %d bytes", s, fanoutHeaderLen, fanoutMaxSize)
		}
	}
	for _, r := range o.rates {
		if r <= 0 {
			return o, fmt.Errorf("-rates %v: must be positive", r)
		}
	}
	return o, nil
}

// parseList reads a comma-separated list with parse.
func parseList[T any](v string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, s := range strings.Split(v, ",") {
		x, err := parse(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func parseScenarios(v string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		switch s {
		case scenarioLocal, scenarioLocalNATS, scenarioCluster:
		default:
			return nil, fmt.Errorf("%q: want %s, %s or %s", s, scenarioLocal, scenarioLocalNATS, scenarioCluster)
		}
		if slices.Contains(out, s) {
			return nil, fmt.Errorf("%q named twice", s)
		}
		out = append(out, s)
	}
	return out, nil
}

// fanoutScenario is where the members and the publisher are.
type fanoutScenario struct {
	id        string // as -scenarios names it
	instances int
	cluster   bool // the instances have a cluster section
}

// name is the scenario as the report names it.
func (s fanoutScenario) name() string {
	switch {
	case s.instances == 1 && s.cluster:
		return "1 instance + NATS"
	case s.instances == 1:
		return "1 instance"
	}
	return fmt.Sprintf("%d instances", s.instances)
}

func (o fanoutOptions) scenarioList() []fanoutScenario {
	var out []fanoutScenario
	for _, id := range o.scenarios {
		switch id {
		case scenarioLocal:
			out = append(out, fanoutScenario{id: id, instances: 1})
		case scenarioLocalNATS:
			out = append(out, fanoutScenario{id: id, instances: 1, cluster: true})
		case scenarioCluster:
			out = append(out, fanoutScenario{id: id, instances: o.instances, cluster: true})
		}
	}
	return out
}

// needsNATS reports whether a scenario has a cluster section.
func (o fanoutOptions) needsNATS() bool {
	return slices.ContainsFunc(o.scenarioList(), func(s fanoutScenario) bool { return s.cluster })
}

// schedule is the order of the runs: the scenarios alternate, reversed
// every other repeat (ABBA), so that neither always runs first on a
// machine whose neighbours come and go.
func schedule(scenarios []fanoutScenario, repeats int) []fanoutScenario {
	var out []fanoutScenario
	for r := range repeats {
		round := slices.Clone(scenarios)
		if r%2 == 1 {
			slices.Reverse(round)
		}
		out = append(out, round...)
	}
	return out
}

// splitMembers spreads n members over k instances as evenly as
// possible, the first instances taking one more: 1000 over 3 is
// 334/333/333.
func splitMembers(n, k int) []int {
	out := make([]int, k)
	for i := range out {
		out[i] = n / k
		if i < n%k {
			out[i]++
		}
	}
	return out
}

// runFanout is the fanout subcommand; it returns the exit status.
func runFanout(args []string) int {
	o, err := parseFanoutFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench fanout:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := &fanout{opts: o}
	defer f.close()
	if err := f.start(); err != nil {
		fmt.Fprintln(os.Stderr, "wsbench fanout:", err)
		return 1
	}
	runs := f.run(ctx)
	fmt.Print(f.report(runs))
	failed := fanoutFailures(runs)
	for _, msg := range failed {
		fmt.Fprintln(os.Stderr, "wsbench fanout:", msg)
	}
	if len(failed) > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}

// fanout is one fanout session: the working directory, the wsedge
// binary and the NATS server the runs share.
type fanout struct {
	opts      fanoutOptions
	dir       string
	wsedgeBin string
	nats      *natsServer // nil if no scenario needs it
	steal     stealMeter  // over every measured window
}

// start builds wsedge and starts NATS if a scenario needs it.
func (f *fanout) start() error {
	if err := checkOwnFileLimit(f.opts.members + 1); err != nil {
		return err
	}
	dir, err := workDir(f.opts.dir)
	if err != nil {
		return err
	}
	f.dir = dir
	fmt.Fprintf(os.Stderr, "wsbench fanout: working in %s\n", f.dir)
	if f.wsedgeBin, _, err = buildBinaries(f.dir); err != nil { // wsload is not used here
		return err
	}
	if !f.opts.needsNATS() {
		return nil
	}
	f.nats, err = startNATS(context.Background(), f.dir, f.opts.nats, f.opts.install)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wsbench fanout: NATS: %s\n", f.nats.about())
	return nil
}

// close stops NATS and removes a temporary working directory.
func (f *fanout) close() {
	if f.nats != nil {
		f.nats.proc.stop()
	}
	if !f.opts.keep && f.opts.dir == "" && f.dir != "" {
		os.RemoveAll(f.dir)
	}
}

// run runs every scenario repeats times, in schedule's order, until ctx
// ends.
func (f *fanout) run(ctx context.Context) []*fanoutRun {
	var runs []*fanoutRun
	seen := map[string]int{}
	order := schedule(f.opts.scenarioList(), f.opts.repeats)
	for i, sc := range order {
		if ctx.Err() != nil {
			break
		}
		seen[sc.id]++
		r := &fanoutRun{f: f, scenario: sc, repeat: seen[sc.id], last: seen[sc.id] == f.opts.repeats}
		r.dir = filepath.Join(f.dir, fmt.Sprintf("%s-%d", sc.id, r.repeat))
		fmt.Fprintf(os.Stderr, "wsbench fanout: run %d of %d: %s, repeat %d\n", i+1, len(order), sc.name(), r.repeat)
		r.err = r.execute(ctx)
		if r.err != nil {
			fmt.Fprintf(os.Stderr, "wsbench fanout: %s, repeat %d: %v\n", sc.name(), r.repeat, r.err)
		}
		runs = append(runs, r)
	}
	return runs
}

// fanoutFailures are the reasons for exit status 1: a run that could not
// be made, and messages that did not reach every member. Timing is never
// one.
func fanoutFailures(runs []*fanoutRun) []string {
	var out []string
	for _, r := range runs {
		who := fmt.Sprintf("%s, repeat %d", r.scenario.name(), r.repeat)
		if r.err != nil {
			out = append(out, fmt.Sprintf("%s: %v", who, r.err))
		}
		for _, ph := range r.phases {
			if ph.check.lost > 0 || ph.check.gaps > 0 || ph.check.reordered > 0 {
				out = append(out, fmt.Sprintf("%s, %s: %s", who, ph.label(), ph.check))
			}
		}
	}
	return out
}
