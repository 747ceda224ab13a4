// Command wsbench runs the same WebSocket load against a direct gorilla
// echo server, against wsedge in front of it, and against nginx in front
// of it (when nginx is installed), interleaved and repeated, and prints one
// table of medians and ratios. It is what bench/run runs.
//
//	go run ./cmd/wsbench [-runs 5] [-duration 5s] [-idle 8000] [-only 1,2,5]
//
// Everything listens on 127.0.0.1. Binaries (wsedge, wsload) are built into
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
	if len(os.Args) > 1 && os.Args[1] == "backend" {
		os.Exit(runBackend(os.Args[2:]))
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
	flag.Parse()

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
