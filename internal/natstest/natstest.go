// Package natstest runs a real NATS server, JetStream enabled, inside the
// test process (github.com/nats-io/nats-server/v2/server), so tests of the
// cluster (issue 12) need nothing installed. A server can be shut down and
// started again on the same port and storage, as an operator restarting
// nats-server would.
package natstest

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds how long a starting server may take to accept
// clients.
const readyTimeout = 30 * time.Second

// Server is one NATS server on a loopback port, with JetStream storing
// in a test directory.
type Server struct {
	t    testing.TB
	port int
	dir  string

	mu  sync.Mutex
	srv *server.Server // nil while stopped
}

// Start starts a server on a free loopback port. It is shut down at t's
// cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nats-server opens its own listener on this port
	s := &Server{t: t, port: port, dir: t.TempDir()}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Stop shuts the server down and waits for it; clients see their
// connection drop. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// Restart starts the server again (or for the first time) on the same
// port and JetStream storage, and waits until it accepts clients.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.t.Fatal("natstest: Restart of a running server")
	}
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      s.port,
		JetStream: true,
		StoreDir:  s.dir,
		NoLog:     true,
		NoSigs:    true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		s.t.Fatalf("natstest: %v", err)
	}
	srv.Start() // starts its own goroutines, which Shutdown stops and waits for
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		s.t.Fatalf("natstest: the NATS server on port %d was not ready within %v", s.port, readyTimeout)
	}
	s.srv = srv
}
