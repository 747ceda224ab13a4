package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/wsedge/wsedge/internal/wstest"
)

// pebble is a real ACME server (Let's Encrypt's test CA) running in this
// process on loopback, validating challenges for real against the ports it
// is given. Names under .test resolve to 127.0.0.1 through a DNS server of
// the test's own.
type pebble struct {
	directory string         // https URL of the ACME directory
	caFile    string         // PEM of the directory's own TLS certificate
	roots     *x509.CertPool // Pebble's issuing root: the only root a test client trusts
	orders    atomic.Int64   // new-order requests received
	logs      *wstest.LogBuffer
}

// startPebble starts Pebble whose validator reaches HTTP-01 on httpPort
// and TLS-ALPN-01 on tlsPort of 127.0.0.1.
func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // validate at once instead of after a random pause
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no deliberately rejected nonces
	p := &pebble{logs: &wstest.LogBuffer{}}
	logger := log.New(p.logs, "pebble ", log.Lmicroseconds)
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
			t.Logf("pebble log:\n%s", p.logs)
		}
	})
	return p
}

// startTestDNS answers A queries for any name with 127.0.0.1, over TCP
// (which Pebble's validator uses) and UDP, so Pebble reaches the wsedge
// under test. It returns the server address.
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// acmeConfig is a wsedge configuration with ACME from Pebble and one
// proxied route; /plain is allowed on the plain listener.
func acmeConfig(p *pebble, host, cache, backend string) string {
	return fmt.Sprintf(`
listen:
  https: "127.0.0.1:0"
  http: "127.0.0.1:0"
limits:
  handshake_timeout: 30s
tls:
  acme:
    hosts: [%s]
    email: ops@wsedge.test
    cache: %s
    directory: %s
    ca: %s
routes:
  - path: /ws
    backend: %s/
  - path: /plain
    plain: true
    handler: demo
`, host, cache, p.directory, p.caFile, backend)
}

func TestACMEWithPebble(t *testing.T) {
	cases := []struct {
		name      string
		challenge string
	}{
		{"TLS-ALPN-01", "tls-alpn-01"},
		{"HTTP-01", "http-01"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host := strings.ToLower(strings.ReplaceAll(tc.challenge, "-", "")) + ".wsedge.test"
			backend := wstest.EchoServer(t)
			cache := filepath.Join(t.TempDir(), "acme")
			ls := listenLoopback(t)
			// Each run leaves the validator exactly one way in: the other
			// challenge's port is one nothing listens on, so the
			// certificate can only come from the challenge under test.
			httpPort, tlsPort := portOf(t, ls.HTTP.Addr().String()), portOf(t, ls.HTTPS.Addr().String())
			if tc.challenge == "tls-alpn-01" {
				httpPort = portOf(t, wstest.ClosedAddr(t))
			} else {
				tlsPort = portOf(t, wstest.ClosedAddr(t))
			}
			p := startPebble(t, httpPort, tlsPort)
			dir := t.TempDir()
			app := startApp(t, dir, acmeConfig(p, host, cache, backend), ls)

			c, err := app.dialWSS(t, host, "/ws", p.roots)
			if err != nil {
				t.Fatalf("wss through wsedge with a Pebble certificate: %v", err)
			}
			roundTrip(t, c, "hello over an ACME certificate")
			leaf := servedLeaf(t, c)
			if key, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || key.Curve != elliptic.P256() {
				t.Errorf("certificate key: got %T, want ECDSA P-256", leaf.PublicKey)
			}
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != host {
				t.Errorf("certificate names: got %v, want [%s]", leaf.DNSNames, host)
			}
			ordersAfterIssue := p.orders.Load()
			checkCachePermissions(t, cache)

			// A name outside acme.hosts: no certificate, and no order.
			if _, err := app.dialWSS(t, "other.wsedge.test", "/ws", p.roots); err == nil {
				t.Error("a name outside acme.hosts got a certificate")
			}
			if got := p.orders.Load(); got != ordersAfterIssue {
				t.Errorf("orders after a foreign name: got %d, want %d", got, ordersAfterIssue)
			}

			// The plain listener redirects to https, except plain: true.
			checkPlainListener(t, app, host)

			// Restart on the same cache: the cached certificate is served
			// with no new order.
			c.Close()
			app.stop()
			app2 := startApp(t, dir, acmeConfig(p, host, cache, backend), listenLoopback(t))
			c2, err := app2.dialWSS(t, host, "/ws", p.roots)
			if err != nil {
				t.Fatalf("wss after restart: %v", err)
			}
			roundTrip(t, c2, "hello again")
			if got := servedLeaf(t, c2).SerialNumber; got.Cmp(leaf.SerialNumber) != 0 {
				t.Errorf("after restart: serial %s, want the cached %s", got, leaf.SerialNumber)
			}
			if got := p.orders.Load(); got != ordersAfterIssue {
				t.Errorf("orders after restart: got %d, want %d (no new order)", got, ordersAfterIssue)
			}
		})
	}
}

// checkCachePermissions: the account key and certificates are private.
func checkCachePermissions(t *testing.T, cache string) {
	t.Helper()
	fi, err := os.Stat(cache)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("cache directory mode %o, want 700", perm)
	}
	entries, err := os.ReadDir(cache)
	if err != nil || len(entries) == 0 {
		t.Fatalf("cache is empty: %v", err)
	}
	for _, e := range entries {
		info, _ := e.Info()
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("cache file %s mode %o, want 600", e.Name(), perm)
		}
	}
}

func checkPlainListener(t *testing.T, app *runningApp, host string) {
	t.Helper()
	noFollow := &http.Client{
		Timeout:       waitLimit,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, _ := http.NewRequest("GET", "http://"+app.plainAddr+"/ws?x=1", nil)
	req.Host = host + ":" + strconv.Itoa(portOf(t, app.plainAddr))
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "https://" + host + ":" + strconv.Itoa(portOf(t, app.tlsAddr)) + "/ws?x=1"
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("plain /ws: got %d Location %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	req, _ = http.NewRequest("GET", "http://"+app.plainAddr+"/plain", nil)
	req.Host = host
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("plain /plain (plain: true): got %d, want 200", resp.StatusCode)
	}
}
