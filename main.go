// Command wsedge is a TLS-terminating WebSocket edge proxy and router.
//
//	wsedge [-config FILE]            run (the embedded default without -config)
//	wsedge validate [-config FILE]   check a configuration, print "ok" or every error
//	wsedge reload [-config FILE]     make the running wsedge reload its configuration
//	wsedge -version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/wsedge/wsedge/admin"
	"github.com/wsedge/wsedge/cluster"
	"github.com/wsedge/wsedge/config"
	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/xconnect"
	"github.com/wsedge/wsedge/proxy"
	"github.com/wsedge/wsedge/tlsconf"
	"github.com/wsedge/wsedge/upstream"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version from the build info is used.
var version = ""

func main() {
	// First of all, as net/http reads it only once: WebSockets over
	// HTTP/2 need GODEBUG=http2xconnect=1 (see internal/xconnect); this
	// runs wsedge again with it when it is missing.
	if err := xconnect.Enable(); err != nil {
		fmt.Fprintln(os.Stderr, "wsedge: WebSockets over HTTP/2 are off:", err)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	command := ""
	if len(args) > 0 && (args[0] == "validate" || args[0] == "reload") {
		command, args = args[0], args[1:]
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
	switch command {
	case "validate":
		if err == nil {
			err = check(cfg)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, "ok")
		return 0
	case "reload":
		if err == nil {
			err = requestReload(cfg.Admin, stdout)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
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
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	a, err := newApp(cfg, log)
	if err != nil {
		log.Error("wsedge cannot start", "err", err)
		return 1
	}
	a.configPath = *configPath
	ls, err := a.proxy.Listen()
	if err != nil {
		log.Error("wsedge cannot start", "err", err)
		return 1
	}
	log.Info("wsedge starting", "version", buildVersion(), "routes", len(cfg.Routes))
	if err := a.run(ctx, ls, hup); err != nil {
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

// app is wsedge wired together: the certificates and the proxy, and the
// configuration they were built from.
type app struct {
	log        *slog.Logger
	configPath string           // "" for the embedded default
	cfg        *config.File     // as running: the last successful load
	tls        *tlsconf.Manager // nil without a TLS section
	proxy      *proxy.Server
	admin      *admin.Server // nil without an admin listener
	cluster    *cluster.Node // nil without a cluster section
	reloads    *reloadMetrics
	// statusMu guards reloadStatus, which the admin page reads.
	statusMu     sync.Mutex
	reloadStatus reloadStatus
	// reloadMu orders reloads: SIGHUP's and the admin listener's.
	reloadMu sync.Mutex
}

// check reads what the configuration names (certificate files, CA
// bundles, tail roots) as starting would, without serving, generating or
// writing anything, and reports every problem with its file and line.
func check(cfg *config.File) error {
	var errs []error
	if cfg.TLS.Enabled() {
		errs = append(errs, conftypes.Under("tls", tlsconf.Check(cfg.TLS)))
	}
	if cfg.Cluster.Enabled() {
		errs = append(errs, conftypes.Under("cluster", cluster.Check(cfg.Cluster)))
	}
	rt, err := proxy.Build(cfg.Config, proxy.BuildDeps{Log: slog.New(slog.DiscardHandler)}, nil)
	if err == nil {
		rt.Close()
	}
	return cfg.Locate(errors.Join(append(errs, err)...))
}

func newApp(cfg *config.File, log *slog.Logger) (*app, error) {
	a := &app{log: log, cfg: cfg, reloads: newReloadMetrics()}
	a.reloads.counted(nil) // the configuration loaded at start
	a.reloadStatus = reloadStatus{Version: buildVersion(), LastSuccess: time.Now()}
	if err := a.wire(cfg); err != nil {
		a.closeCluster()
		return nil, err
	}
	return a, nil
}

// wire builds what cfg configures: the cluster membership, the
// certificates, the proxy and the admin listener.
func (a *app) wire(cfg *config.File) error {
	log := a.log
	deps := proxy.Deps{Log: log, Metrics: cfg.Admin.Enabled(), HSTS: cfg.TLS.HSTSHeader()}
	if cfg.Cluster.Enabled() {
		node, err := cluster.Open(cfg.Cluster, log.With("component", "cluster"))
		if err != nil {
			return cfg.Locate(conftypes.Under("cluster", err))
		}
		a.cluster = node
	}
	if cfg.TLS.Enabled() {
		var store tlsconf.ACMEStore // nil: tls.acme.cache
		if a.cluster != nil && cfg.TLS.ACME != nil {
			cc, err := a.cluster.OpenCertCache()
			if err != nil {
				return err
			}
			store = cc
		}
		m, err := tlsconf.NewShared(cfg.TLS, log.With("component", "tls"), store)
		if err != nil {
			return cfg.Locate(conftypes.Under("tls", err))
		}
		a.tls = m
		deps.TLS = m.TLSConfig()
		if m.ACMEEnabled() {
			deps.Challenges = m
		}
	}
	rt, err := proxy.Build(cfg.Config, a.buildDeps(), nil)
	if err != nil {
		return cfg.Locate(err)
	}
	srv, err := proxy.New(cfg.Config, rt, deps)
	if err != nil {
		rt.Close()
		return err
	}
	a.proxy = srv
	if cfg.Admin.Enabled() {
		a.admin = admin.New(cfg.Admin, a, a.metricsHandler(), log.With("component", "admin"))
	}
	return nil
}

// buildDeps are what every runtime a is to serve is built with.
func (a *app) buildDeps() proxy.BuildDeps {
	deps := proxy.BuildDeps{Log: a.log}
	if a.cluster != nil {
		deps.Rooms = func(route string) upstream.RoomBus { return a.cluster.Rooms(route) }
	}
	return deps
}

// closeCluster leaves the cluster, if a is in one.
func (a *app) closeCluster() {
	if a.cluster != nil {
		a.cluster.Close()
	}
}

// run serves on ls until ctx is cancelled; hup reloads the configuration
// (see reload). It owns the certificate watcher and the reloads and waits
// for them.
func (a *app) run(ctx context.Context, ls proxy.Listeners, hup <-chan os.Signal) error {
	// The admin listener, the certificate watcher and reloads outlive
	// the proxy's drain (/readyz says "draining" while it lasts), and
	// stop once Serve has returned.
	bg, stopBackground := context.WithCancel(context.Background())
	// Last: the rooms' members have gone with the drain.
	defer a.closeCluster()
	var background sync.WaitGroup
	defer background.Wait()
	defer stopBackground()
	if a.admin != nil {
		ln, err := a.admin.Listen()
		if err != nil {
			ls.Close()
			return err
		}
		background.Go(func() {
			if err := a.admin.Serve(bg, ln); err != nil {
				a.log.Error("admin listener stopped", "err", err)
			}
		})
	}
	if a.tls != nil {
		background.Go(func() { a.tls.Run(bg) })
	}
	background.Go(func() {
		for {
			select {
			case <-bg.Done():
				return
			case <-hup:
				a.log.Info("SIGHUP: reloading the configuration")
				a.reload()
			}
		}
	})
	return a.proxy.Serve(ctx, ls)
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
