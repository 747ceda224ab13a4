// Command wsbench runs the same WebSocket load against a direct gorilla
// echo server, against wsedge in front of it, and against nginx and
// HAProxy in front of it (each when installed), interleaved and repeated,
// and prints one table of medians and ratios. It is what bench/run runs.
//
//	go run ./cmd/wsbench [-runs 5] [-duration 5s] [-idle 8000] [-only 1,2,5]
//
// Besides throughput, latency and memory it measures what a round trip
// costs each proxy: its CPU time (from /proc) and its system calls (perf
// or strace) over exactly wsload's measured phase.
//
//	go run ./cmd/wsbench idlescale [-plain] [-steps 1000,2500,5000,max]
//
// measures wsedge alone with idle connections in steps up to what its
// open-file limit allows (see idlescale.go); bench/idle-scale runs it.
//
//	go run ./cmd/wsbench reload [-c 1000] [-reloads 20]
//
// reloads wsedge's configuration under load and counts what was dropped
// (see reloadload.go); bench/reload-under-load runs it.
//
//	go run ./cmd/wsbench slowloris [-plain] [-n 5000] [-duration 30s]
//
// holds n half-open handshakes against wsedge while a probe keeps
// connecting, and reports the probe's handshake times and wsedge's memory
// per half-open connection (see slowloris.go); bench/slowloris runs it.
//
//	go run ./cmd/wsbench fanout [-members 1000] [-instances 3] [-duration 10s] [-size 64,1024] [-rates 20,50]
//
// measures a broadcast room's fan-out from one publisher to its members
// on one wsedge and spread over several on one NATS server: deliveries
// per second, publish-to-delivery latency, and what each process spends
// (see fanout.go); bench/fanout runs it. Its NATS server is Debian's
// nats-server if installed, else "wsbench nats-server", a hidden
// subcommand running the one in go.mod.
//
// Everything listens on loopback. Binaries (wsedge, wsload) are built into
// a temporary directory along with the configurations, a generated ECDSA
// certificate and the logs.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "backend":
			os.Exit(runBackend(os.Args[2:]))
		case "idlescale":
			os.Exit(runIdleScale(os.Args[2:]))
		case "reload":
			os.Exit(runReloadUnderLoad(os.Args[2:]))
		case "slowloris":
			os.Exit(runSlowloris(os.Args[2:]))
		case "fanout":
			os.Exit(runFanout(os.Args[2:]))
		case "nats-server":
			os.Exit(runNATSServer(os.Args[2:]))
		}
	}
	os.Exit(run())
}

func run() int {
	var o options
	flag.IntVar(&o.runs, "runs", 5, "repetitions of each workload per target (medians are reported)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each load run")
	flag.IntVar(&o.idle, "idle", 8000, "idle proxied connections for the memory workload")
	flag.StringVar(&o.only, "only", "", "comma-separated workload numbers to run (default: all)")
	flag.StringVar(&o.dir, "dir", "", "working directory for binaries, configs and logs (default: a new temporary one)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory")
	flag.Float64Var(&o.maxSteal, "max-steal", 10, "repeat (up to 3 times) a run during which the hypervisor took more than this `percent` of the CPU")
	flag.StringVar(&o.syscalls, "syscalls", "auto", "count the proxies' system calls with `tool`: perf, strace, auto (perf if installed, else strace) or off")
	flag.Parse()
	switch o.syscalls {
	case "auto", "perf", "strace", "off":
	default:
		fmt.Fprintf(os.Stderr, "wsbench: -syscalls %q: want auto, perf, strace or off\n", o.syscalls)
		return 2
	}

	b, err := newBench(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		return 1
	}
	// Ctrl-C stops the targets before exiting.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		b.close()
		os.Exit(130)
	}()
	defer b.close()
	if err := b.start(); err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		return 1
	}
	results := b.runWorkloads()
	fmt.Print(b.environment())
	fmt.Print(renderTable(results))
	if failed := failures(results); len(failed) > 0 {
		fmt.Printf("\nTargets missed: %s\n", strings.Join(failed, ", "))
	}
	return 0
}
