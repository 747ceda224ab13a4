package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/reactor"
)

// The server has two listener roles: plain (ws://, http://) and TLS
// (wss://, https://). A reload that changes a role's address (adds it,
// removes it, moves it) rebinds that role only: connections accepted on
// the other one, and every upgraded connection, are untouched (issue 9).
const (
	rolePlain = iota
	roleTLS
)

// roleField names a role's configuration field, for errors.
var roleField = [2]string{"listen.http", "listen.https"}

// addrs are the configured addresses by role.
func (l *ListenConfig) addrs() [2]string { return [2]string{l.HTTP, l.HTTPS} }

// endpoint is a listener the server accepts on, with its http.Server.
type endpoint struct {
	ln net.Listener
	hs *http.Server
	// retired is set when a reload closes ln: the accept error that
	// follows is not a failure.
	retired atomic.Bool
}

// redirect is what the plain listener's redirects to https need: whether
// it redirects, and ":port" of the TLS listener ("" for 443). A reload
// that changes the listeners replaces it.
type redirect struct {
	on         bool
	portSuffix string
}

// Listen opens the configured listeners.
func (s *Server) Listen() (Listeners, error) {
	var ls Listeners
	for role, addr := range s.cfg.Listen.addrs() {
		if addr == "" {
			continue
		}
		ln, err := s.listen(addr)
		if err != nil {
			ls.Close()
			return Listeners{}, fmt.Errorf("%s: %w", roleField[role], err)
		}
		if role == rolePlain {
			ls.HTTP = ln
		} else {
			ls.HTTPS = ln
		}
	}
	return ls, nil
}

func (s *Server) listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: tcpKeepAlive(s.settings.Load().pingInterval)}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}

// serveOn starts accepting on ln for role; s.listening owns the
// goroutine. A listener that fails (not closed by the server) is
// reported on s.listenErr. The caller holds reloadMu.
func (s *Server) serveOn(role int, ln net.Listener) {
	hs := s.newHTTPServer(role == roleTLS)
	e := &endpoint{ln: ln, hs: hs}
	s.endpoints[role] = e
	accept := s.proxyProtocolListener(ln)
	if role == roleTLS {
		// TLS over reactor sockets, so that the relay can take an
		// upgraded connection over, TLS state and all.
		accept = tls.NewListener(reactor.Listener(accept), hs.TLSConfig)
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "tls", role == roleTLS)
	s.listening.Go(func() {
		if err := hs.Serve(accept); !errors.Is(err, http.ErrServerClosed) && !e.retired.Load() {
			select {
			case s.listenErr <- fmt.Errorf("serve %s: %w", ln.Addr(), err):
			default:
			}
		}
	})
}

// updateRedirect recomputes the plain listener's redirects from the
// listeners now serving. The caller holds reloadMu.
func (s *Server) updateRedirect(cfg ListenConfig) {
	on := s.deps.Challenges != nil
	if cfg.RedirectToHTTPS != nil {
		on = *cfg.RedirectToHTTPS
	}
	r := &redirect{on: on && s.endpoints[rolePlain] != nil && s.endpoints[roleTLS] != nil}
	if e := s.endpoints[roleTLS]; e != nil {
		r.portSuffix = portSuffix(e.ln.Addr())
	}
	s.redirect.Store(r)
}

// bindChanged opens the listeners whose address cfg changes, before a
// reload applies anything: an address that cannot be bound fails the
// reload as a whole (the listeners opened for it are closed again).
func (s *Server) bindChanged(cfg ListenConfig) (opened [2]net.Listener, changed [2]bool, err error) {
	old := s.cfg.Listen.addrs()
	for role, addr := range cfg.addrs() {
		if addr == old[role] {
			continue
		}
		changed[role] = true
		if addr == "" {
			continue
		}
		if role == roleTLS && s.deps.TLS == nil {
			err = conftypes.Field(roleField[role], errors.New("the https listener needs certificates, and the tls section takes effect at a restart"))
		} else if opened[role], err = s.listen(addr); err != nil {
			err = conftypes.Field(roleField[role], err)
		}
		if err != nil {
			for _, ln := range opened {
				if ln != nil {
					ln.Close()
				}
			}
			return [2]net.Listener{}, changed, err
		}
	}
	return opened, changed, nil
}

// swapListeners serves on the listeners bindChanged opened and retires
// the ones they replace: a retired listener is closed at once (its
// address accepts nothing once the reload returns), its plain requests in
// flight finish (up to drain_timeout), and the upgraded connections it
// accepted are not touched. The caller holds reloadMu.
func (s *Server) swapListeners(cfg ListenConfig, opened [2]net.Listener, changed [2]bool) {
	for role := range changed {
		if !changed[role] {
			continue
		}
		if old := s.endpoints[role]; old != nil {
			s.endpoints[role] = nil
			old.retired.Store(true)
			old.ln.Close()
			s.log.Info("listener retired by a reload", "addr", old.ln.Addr().String(), "tls", role == roleTLS)
			s.listening.Go(func() { s.retire(old.hs) })
		}
		if opened[role] != nil {
			s.serveOn(role, opened[role])
		}
	}
	s.cfg.Listen = cfg
	s.updateRedirect(cfg)
}

// retire stops hs accepting and lets its plain requests finish.
func (s *Server) retire(hs *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Shutdown.DrainTimeout.D())
	defer cancel()
	if hs.Shutdown(ctx) != nil {
		hs.Close()
	}
}
