// Command wsload is a WebSocket load generator: it measures a WebSocket
// server or proxy (wsedge, nginx, or the backend directly) with many
// connections, in one of three modes:
//
//	echo       send messages and check their echoes: throughput, round-trip
//	           latency, and lost, corrupted or reordered messages
//	idle       hold many quiet connections open
//	handshake  open and close connections as fast as possible (with
//	           -h2-conns N: as HTTP/2 streams, RFC 8441, on N TLS
//	           connections)
//
// Examples:
//
//	wsload -url ws://127.0.0.1:8080/echo -c 100 -size 64 -duration 10s
//	wsload -url wss://edge.example/echo -ca ca.pem -mode handshake -c 8
//	wsload -url ws://127.0.0.1:8080/echo -mode idle -c 20000 -json
//
// With -json it prints one JSON object on stdout (see summary in
// report.go for the fields). It exits 0 normally, 1 if a message was
// lost, corrupted or reordered or no connection could be opened, and 2
// for bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsedge/wsedge/internal/xconnect"
)

// Exit statuses.
const (
	exitOK       = 0
	exitFailures = 1
	exitUsage    = 2
)

func main() {
	// First of all, as net/http and x/net read it only once: WebSockets
	// over HTTP/2 (-h2-conns) may need GODEBUG=http2xconnect=1 (see
	// internal/xconnect); this runs wsload again with it when missing.
	if err := xconnect.Enable(); err != nil {
		fmt.Fprintln(os.Stderr, "wsload: warning: WebSockets over HTTP/2 (-h2-conns) may be refused:", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal the run ends its measured phase and reports;
	// restoring the default handling lets a second one kill it at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command: it parses args, runs the load and writes the
// summary to stdout, and returns the exit status. Cancelling ctx ends the
// measured phase early; the run then drains and reports as usual.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage // parseOptions has explained the problem
	}

	fdLimit, err := raiseOpenFileLimit()
	if err != nil {
		fmt.Fprintf(stderr, "wsload: warning: %v\n", err)
	}
	warnIfTooFewFiles(stderr, opts.connections, fdLimit)

	marks := openPhaseMarks(opts.phaseFD)
	defer marks.close()
	env := newRunEnv(opts, fdLimit, stderr, marks)
	s, err := runMode(ctx, env)
	if err != nil {
		fmt.Fprintf(stderr, "wsload: %v\n", err)
		return exitFailures
	}
	fillCommon(&s, env)
	if err := writeSummary(stdout, s, opts.json); err != nil {
		fmt.Fprintf(stderr, "wsload: %v\n", err)
		return exitFailures
	}
	return exitStatus(s)
}

// fillCommon sets the summary fields every mode shares. The message
// settings are reported only in echo mode, the only one that sends
// messages.
func fillCommon(s *summary, env *runEnv) {
	o := env.opts
	s.Mode, s.URL, s.Connections = o.mode, o.url, o.connections
	if o.mode == modeEcho {
		s.Size, s.Window, s.Rate = o.size, o.window, o.rate
	}
	s.Errors = env.errs.total()
	s.ErrorSamples = env.errs.sampleList()
	s.FDLimit = env.fdLimit
	s.fileLimitReached = env.errs.fileLimitReached()
	s.cpuUser, s.cpuSys = cpuTime()
	s.wall = time.Since(env.clock.start)
}
