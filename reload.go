package main

import (
	"errors"
	"reflect"
	"time"

	"github.com/wsedge/wsedge/config"
	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/proxy"
	"github.com/wsedge/wsedge/tlsconf"
)

// Reload is the admin listener's reload (admin.Controller).
func (a *app) Reload() error { return a.reload() }

// reload applies the configuration file again and counts the result.
func (a *app) reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	err := a.applyReload()
	if err != nil {
		a.log.Error("reload failed: the running configuration stays", "err", err)
	}
	a.reloads.counted(err)
	a.noteReload(err)
	return err
}

// Ready reports whether wsedge takes new connections (admin.Controller).
func (a *app) Ready() error { return a.proxy.Ready() }

// appStatus is what the admin page shows (admin.Controller's Status).
type appStatus struct {
	Proxy  proxy.Status `json:"proxy"`
	Reload reloadStatus `json:"reload"`
}

// reloadStatus is the configuration's state: when it last loaded and,
// if the last reload failed, why.
type reloadStatus struct {
	Version     string    `json:"version"`
	LastSuccess time.Time `json:"last_success"`
	LastError   string    `json:"last_error,omitempty"`
}

// Status is the admin page's snapshot (admin.Controller).
func (a *app) Status() any {
	a.statusMu.Lock()
	r := a.reloadStatus
	a.statusMu.Unlock()
	return appStatus{Proxy: a.proxy.Status(), Reload: r}
}

// noteReload records a reload's result for the admin page.
func (a *app) noteReload(err error) {
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	if err != nil {
		a.reloadStatus.LastError = err.Error()
		return
	}
	a.reloadStatus.LastError = ""
	a.reloadStatus.LastSuccess = time.Now()
}

// applyReload reads the configuration file again and applies it (issue 9):
// the file is parsed and checked as "wsedge validate" checks it,
// certificate files, CA bundles and tail roots included; the new routes
// are built, keeping the pools and handlers configured as before; the
// listeners whose address changed are bound; then routes, listeners and
// the settings of new connections are swapped in, and certificate files
// re-read. Any error leaves the running configuration as it is, and names
// the file and line. A change to relay, shutdown, tls or admin is such an
// error (Reloadable says which): those take effect at a restart.
func (a *app) applyReload() error {
	cfg, err := a.checkReload()
	if err != nil {
		return err
	}
	next, err := proxy.Build(cfg.Config, a.buildDeps(), a.proxy.Runtime())
	if err != nil {
		return cfg.Locate(err)
	}
	closing, err := a.proxy.Reload(cfg.Config, next)
	if err != nil {
		return cfg.Locate(err)
	}
	if a.tls != nil {
		a.tls.Reload()
	}
	a.cfg = cfg
	a.log.Info("configuration reloaded", "routes", len(cfg.Routes), "closing", closing)
	return nil
}

// checkReload loads the file and checks that it changes only what a
// reload applies.
func (a *app) checkReload() (*config.File, error) {
	cfg, err := loadConfig(a.configPath)
	if err != nil {
		return nil, err
	}
	errs := []error{a.proxy.Reloadable(cfg.Config)}
	if !reflect.DeepEqual(cfg.TLS, a.cfg.TLS) {
		// The certificate manager is built once, at start (a reload
		// re-reads the files it names).
		errs = append(errs, conftypes.Field("tls", proxy.ErrNeedsRestart))
	} else if cfg.TLS.Enabled() {
		// The certificate files it names must still load, as validate
		// requires: a reload that would leave a pair unreadable fails.
		errs = append(errs, conftypes.Under("tls", tlsconf.Check(cfg.TLS)))
	}
	if cfg.Admin != a.cfg.Admin {
		// The admin listener is opened once, at start.
		errs = append(errs, conftypes.Field("admin", proxy.ErrNeedsRestart))
	}
	if !reflect.DeepEqual(cfg.Cluster, a.cfg.Cluster) {
		// The connection to NATS is made once, at start, and the
		// rooms linked through it live on.
		errs = append(errs, conftypes.Field("cluster", proxy.ErrNeedsRestart))
	}
	return cfg, cfg.Locate(errors.Join(errs...))
}
