package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
	"golang.org/x/crypto/acme"

	"github.com/wsedge/wsedge/internal/wstest"
)

// acmeWait bounds obtaining one certificate from Pebble, which for
// http-01 takes two orders (see ACMEConfig.Challenge).
const acmeWait = time.Minute

// TestACMEChallengeChoice obtains a certificate from Pebble (Let's
// Encrypt's test CA, in this process) with both listeners open, so the
// validator could use either challenge: the one configured must be the
// one that succeeds. With http-01, the https listener refuses the
// validator's acme-tls/1 handshake, the first order fails, and autocert
// answers HTTP-01 on the plain listener in a second order.
func TestACMEChallengeChoice(t *testing.T) {
	cases := []struct {
		challenge      string
		offersACMETLS  bool
		wantOrders     int64
		wantHTTPProbes bool
	}{
		{"", true, 1, false}, // the default, tls-alpn-01
		{ChallengeHTTP01, false, 2, true},
	}
	for _, tc := range cases {
		name := tc.challenge
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			host := "challenge-" + name + ".wsedge.test"
			httpLn, tlsLn := listenLoopback(t), listenLoopback(t)
			p := startPebble(t, portOf(t, httpLn), portOf(t, tlsLn))
			cfg := DefaultConfig()
			cfg.ACME = &ACMEConfig{
				Hosts:     []string{host},
				Cache:     filepath.Join(t.TempDir(), "acme"),
				Directory: p.directory,
				CA:        p.caFile,
				Challenge: tc.challenge,
			}
			m, _ := newTestManager(t, cfg)
			if got := slices.Contains(m.TLSConfig().NextProtos, acme.ALPNProto); got != tc.offersACMETLS {
				t.Errorf("NextProtos %q: offers %s %v, want %v", m.TLSConfig().NextProtos, acme.ALPNProto, got, tc.offersACMETLS)
			}
			// HTTPHandler is what tells autocert HTTP-01 can be answered:
			// called once, before serving, as the proxy calls it.
			challenges := m.HTTPHandler(http.NotFoundHandler())
			var httpProbes atomic.Int64
			plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
					httpProbes.Add(1)
				}
				challenges.ServeHTTP(w, r)
			})
			serveHTTP(t, httpLn, plain, nil)
			serveHTTP(t, tlsLn, http.NotFoundHandler(), m.TLSConfig())

			ctx, cancel := context.WithTimeout(context.Background(), acmeWait)
			defer cancel()
			d := tls.Dialer{Config: &tls.Config{ServerName: host, RootCAs: p.roots, NextProtos: []string{"http/1.1"}}}
			c, err := d.DialContext(ctx, "tcp", tlsLn.Addr().String())
			if err != nil {
				t.Fatalf("handshake for %s with a Pebble certificate: %v", host, err)
			}
			c.Close()
			if got := p.orders.Load(); got != tc.wantOrders {
				t.Errorf("orders: got %d, want %d", got, tc.wantOrders)
			}
			if got := httpProbes.Load() > 0; got != tc.wantHTTPProbes {
				t.Errorf("HTTP-01 requests on the plain listener: got %d, want some: %v", httpProbes.Load(), tc.wantHTTPProbes)
			}
		})
	}
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func portOf(t *testing.T, ln net.Listener) int {
	t.Helper()
	_, p, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// serveHTTP serves h on ln, over TLS with tlsConfig if it is not nil, as
// the proxy does: HTTP/1.1 only, so ALPN offers what tlsConfig says.
func serveHTTP(t *testing.T, ln net.Listener, h http.Handler, tlsConfig *tls.Config) {
	t.Helper()
	srv := &http.Server{Handler: h, TLSConfig: tlsConfig, ErrorLog: log.New(io.Discard, "", 0)}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	var wg sync.WaitGroup
	wg.Go(func() {
		var err error
		if tlsConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve %s: %v", ln.Addr(), err)
		}
	})
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
}

// pebble is a real ACME server running in this process on loopback,
// validating challenges for real against the ports it is given. Names
// under .test resolve to 127.0.0.1 through a DNS server of the test's own.
// (The root package's end-to-end tests run the same CA through wsedge.)
type pebble struct {
	directory string         // https URL of the ACME directory
	caFile    string         // PEM of the directory's own TLS certificate
	roots     *x509.CertPool // Pebble's issuing root
	orders    atomic.Int64   // new-order requests received
}

// startPebble starts Pebble whose validator reaches HTTP-01 on httpPort
// and TLS-ALPN-01 on tlsPort of 127.0.0.1.
func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // validate at once instead of after a random pause
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no deliberately rejected nonces
	t.Setenv("PEBBLE_AUTHZREUSE", "0")      // every order validates afresh
	p := &pebble{}
	logs := &wstest.LogBuffer{}
	logger := log.New(logs, "pebble ", log.Lmicroseconds)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, httpPort, tlsPort, false, startTestDNS(t), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	api := front.Handler()
	acmeSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.orders.Add(1)
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(acmeSrv.Close)
	p.directory = acmeSrv.URL + "/dir"
	p.caFile = filepath.Join(t.TempDir(), "pebble-api.pem")
	apiCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: acmeSrv.Certificate().Raw})
	if err := os.WriteFile(p.caFile, apiCert, 0o600); err != nil {
		t.Fatal(err)
	}

	mgmt := httptest.NewTLSServer(front.ManagementHandler())
	t.Cleanup(mgmt.Close)
	resp, err := mgmt.Client().Get(mgmt.URL + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rootPEM, _ := io.ReadAll(resp.Body)
	p.roots = x509.NewCertPool()
	if !p.roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("no Pebble root in %q", rootPEM)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", logs)
		}
	})
	return p
}

// startTestDNS answers A queries for any name with 127.0.0.1, over TCP
// (which Pebble's validator uses) and UDP. It returns the address.
func startTestDNS(t *testing.T) string {
	t.Helper()
	answer := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
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
	})
	ln := listenLoopback(t)
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{Listener: ln, Handler: answer}, {PacketConn: pc, Handler: answer}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return ln.Addr().String()
}
