package acmetest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/wsedge/wsedge/internal/wstest"
)

// StartDNS starts a DNS server on loopback that answers A queries for any
// name with 127.0.0.1, over TCP (which Pebble's validator uses) and UDP
// on the same port, so Pebble reaches the code under test. It returns the
// server's host:port. Both servers are shut down, and waited for, at t's
// cleanup.
func StartDNS(t testing.TB) string {
	t.Helper()
	ln := wstest.Listen(t)
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{Listener: ln}, {PacketConn: pc}} {
		srv.Handler = dns.HandlerFunc(answerLoopback)
		startDNSServer(t, srv)
	}
	return ln.Addr().String()
}

// answerLoopback answers every A question with 127.0.0.1.
func answerLoopback(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	for _, q := range r.Question {
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET},
				A:   net.IPv4(127, 0, 0, 1),
			})
		}
	}
	w.WriteMsg(m)
}

// dnsServer owns the goroutine serving one dns.Server.
type dnsServer struct {
	srv     *dns.Server
	started chan struct{} // closed once srv is serving
	done    chan struct{} // closed when serve has returned
	err     error         // what ActivateAndServe returned; read after done
}

// serve runs srv until it is shut down.
func (s *dnsServer) serve() {
	defer close(s.done)
	s.err = s.srv.ActivateAndServe()
}

// startDNSServer serves srv and returns once it is serving; at t's
// cleanup it shuts srv down and waits for its goroutine to return.
func startDNSServer(t testing.TB, srv *dns.Server) {
	t.Helper()
	s := &dnsServer{srv: srv, started: make(chan struct{}), done: make(chan struct{})}
	srv.NotifyStartedFunc = func() { close(s.started) }
	go s.serve()
	t.Cleanup(func() { s.stop(t) })
	select {
	case <-s.started:
	case <-s.done:
		t.Fatalf("dns server on %s: %v", s.addr(), s.err)
	case <-time.After(setupWait):
		t.Fatalf("dns server on %s not serving within %v", s.addr(), setupWait)
	}
}

// stop shuts the server down and waits, within setupWait, for serve to
// return.
func (s *dnsServer) stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), setupWait)
	defer cancel()
	s.srv.ShutdownContext(ctx) // fails only if it never started, which startDNSServer reported
	select {
	case <-s.done:
		select {
		case <-s.started:
		default:
			return // failed to start: startDNSServer reported it
		}
		if s.err != nil {
			t.Errorf("dns server on %s: %v", s.addr(), s.err)
		}
	case <-ctx.Done():
		t.Errorf("dns server on %s still serving %v after shutdown", s.addr(), setupWait)
	}
}

// addr names the server in failures.
func (s *dnsServer) addr() string {
	if s.srv.Listener != nil {
		return "tcp " + s.srv.Listener.Addr().String()
	}
	return "udp " + s.srv.PacketConn.LocalAddr().String()
}
