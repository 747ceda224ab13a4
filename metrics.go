package main

import (
	"context"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wsedge/wsedge/tlsconf"
)

// reloadMetrics count configuration reloads (issue 9).
type reloadMetrics struct {
	total       *prometheus.CounterVec
	lastSuccess prometheus.Gauge
}

func newReloadMetrics() *reloadMetrics {
	return &reloadMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsedge_config_reloads_total",
			Help: "Configuration reloads, by result (success, failure).",
		}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wsedge_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully (at start, or by a reload), as a Unix time.",
		}),
	}
}

// counted records a reload's result.
func (m *reloadMetrics) counted(err error) {
	if err != nil {
		m.total.WithLabelValues("failure").Inc()
		return
	}
	m.total.WithLabelValues("success").Inc()
	m.lastSuccess.SetToCurrentTime()
}

// metricsHandler serves /metrics: the proxy's metrics, reloads,
// certificate expiry, build information, and Go's and the process's own.
func (a *app) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		a.proxy.Collector(),
		a.reloads.total, a.reloads.lastSuccess,
		buildInfo(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if a.tls != nil {
		reg.MustRegister(certExpiry{a.tls})
	}
	if a.cluster != nil {
		reg.MustRegister(a.cluster.Collector())
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogErrorLog{a}})
}

func buildInfo() prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "wsedge_build_info",
		Help:        "wsedge's version and the Go version it was built with; always 1.",
		ConstLabels: prometheus.Labels{"version": buildVersion(), "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}

// certExpiry reports when each served certificate expires, so that an
// alert can fire well before (see the README's example rules).
type certExpiry struct{ m *tlsconf.Manager }

var certNotAfterDesc = prometheus.NewDesc("wsedge_certificate_not_after_timestamp_seconds",
	"When the certificate served for a name expires, as a Unix time.", []string{"name"}, nil)

func (c certExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- certNotAfterDesc }

func (c certExpiry) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for name, t := range c.m.NotAfter(ctx) {
		ch <- prometheus.MustNewConstMetric(certNotAfterDesc, prometheus.GaugeValue, float64(t.Unix()), name)
	}
}

// slogErrorLog passes promhttp's errors to the app's log.
type slogErrorLog struct{ a *app }

func (l slogErrorLog) Println(v ...any) { l.a.log.Warn("metrics", "err", v) }
