package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Controller is what the admin endpoints act on: the running wsedge.
type Controller interface {
	// Reload reads the configuration file again and applies it, or
	// returns why not (every problem with its file and line).
	Reload() error
	// Ready returns nil while wsedge takes new connections, or why it
	// does not (starting, draining).
	Ready() error
	// Status is what the admin page shows, encoded as JSON.
	Status() any
}

// maxRequestBody bounds what an admin request may send: none of the
// endpoints reads a body.
const maxRequestBody = 1 << 10

// Server is the admin listener's HTTP server.
type Server struct {
	cfg     Config
	ctl     Controller
	metrics http.Handler // nil: no /metrics
	log     *slog.Logger
	hs      *http.Server
	live    *live
}

// New builds the admin server for a validated, enabled cfg. metrics, if
// not nil, serves /metrics.
func New(cfg Config, ctl Controller, metrics http.Handler, log *slog.Logger) *Server {
	s := &Server{cfg: cfg, ctl: ctl, metrics: metrics, log: log, live: &live{ctl: ctl}}
	s.hs = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s
}

// Listen opens the admin listener.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	return ln, nil
}

// Serve serves on ln until ctx is done, then closes the listener and
// every admin connection (the page's live sockets included) and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.live.ctx = ctx
	defer s.live.conns.Wait()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		s.hs.Close()
	}()
	s.log.Info("admin listener", "addr", ln.Addr().String(), "pprof", s.cfg.PProf)
	err := s.hs.Serve(ln)
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("admin listener: %w", err)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", servePage)
	mux.Handle("GET /live", s.live)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("POST /reload", loopbackOnly(http.HandlerFunc(s.reload)))
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.metrics)
	}
	if s.cfg.PProf {
		mux.Handle("/debug/pprof/", loopbackOnly(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/cmdline", loopbackOnly(http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("/debug/pprof/profile", loopbackOnly(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/symbol", loopbackOnly(http.HandlerFunc(pprof.Symbol)))
		mux.Handle("/debug/pprof/trace", loopbackOnly(http.HandlerFunc(pprof.Trace)))
	}
	return http.MaxBytesHandler(mux, maxRequestBody)
}

// ready answers 200 while wsedge takes connections, 503 with the reason
// otherwise, for a load balancer's or orchestrator's readiness probe.
func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	if err := s.ctl.Ready(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ready\n")
}

// reload applies the configuration file again: 200 and "reloaded", or
// 422 and every problem, one per line (the running configuration stays).
func (s *Server) reload(w http.ResponseWriter, _ *http.Request) {
	if err := s.ctl.Reload(); err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	io.WriteString(w, "reloaded\n")
}

// loopbackOnly refuses clients that are not on this machine: a reload or
// a profile is for an operator, wherever the admin listener listens.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "only from loopback", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
