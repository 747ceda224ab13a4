// Command wsedge is a TLS-terminating WebSocket edge proxy and router.
//
//	wsedge [-config FILE]            run (the embedded default without -config)
//	wsedge validate [-config FILE]   check a configuration, print "ok" or every error
//	wsedge -version
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/wsedge/wsedge/config"
	"github.com/wsedge/wsedge/proxy"
	"github.com/wsedge/wsedge/tlsconf"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version from the build info is used.
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	validateOnly := len(args) > 0 && args[0] == "validate"
	if validateOnly {
		args = args[1:]
	}
	fs := flag.NewFlagSet("wsedge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration `file` (default: the embedded development configuration)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "wsedge", buildVersion())
		return 0
	}
	cfg, err := loadConfig(*configPath)
	if validateOnly {
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, "ok")
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log, err := newLogger(stderr, *logLevel, *logJSON)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("wsedge stopped", "err", err)
		return 1
	}
	return 0
}

func loadConfig(path string) (*config.File, error) {
	if path == "" {
		return config.Default()
	}
	return config.Load(path)
}

// serve wires the packages together and runs until ctx is cancelled.
func serve(ctx context.Context, cfg *config.File, log *slog.Logger) error {
	var tlsManager *tlsconf.Manager
	if cfg.TLS.Enabled() {
		m, err := tlsconf.New(cfg.TLS, log.With("component", "tls"))
		if err != nil {
			return err
		}
		tlsManager = m
	}
	srv, err := proxy.New(cfg.Config, tlsConfigOf(tlsManager), log)
	if err != nil {
		return err
	}
	log.Info("wsedge starting", "version", buildVersion(), "routes", len(cfg.Routes))
	return srv.Run(ctx)
}

func tlsConfigOf(m *tlsconf.Manager) *tls.Config {
	if m == nil {
		return nil
	}
	return m.TLSConfig()
}

func newLogger(w io.Writer, level string, json bool) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, errors.New("-log-level: want debug, info, warn or error")
	}
	opts := &slog.HandlerOptions{Level: l}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
