package acmetest

import (
	"context"
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/wsedge/wsedge/internal/wstest"
)

// setupWait bounds each step of starting a helper server: fetching
// Pebble's root, a DNS server coming up or shutting down.
const setupWait = 10 * time.Second

// Pebble is a real ACME server running in this process on loopback,
// validating challenges for real against the ports it was started with.
// StartPebble makes one; the zero value is not a running server.
//
// Pebble starts goroutines of its own (its validator's task loop) that it
// offers no way to stop; the servers in front of it, which this package
// starts, are closed at the test's cleanup.
type Pebble struct {
	// Directory is the https URL of the ACME directory.
	Directory string
	// CAFile is a PEM file holding the directory's own TLS certificate,
	// for an ACME client's "ca" setting.
	CAFile string
	// Roots holds Pebble's issuing root: the only root a test client
	// should trust for certificates Pebble issued.
	Roots *x509.CertPool

	orders atomic.Int64 // new-order requests received
}

// Orders returns how many new-order requests Pebble has received.
func (p *Pebble) Orders() int64 { return p.orders.Load() }

// StartPebble starts Pebble, whose validator reaches HTTP-01 on httpPort
// and TLS-ALPN-01 on tlsPort of 127.0.0.1, resolving every name through
// StartDNS. It validates at once (no random pause) and never rejects a
// good nonce. Other PEBBLE_* settings may be put in the environment with
// t.Setenv before the call. Everything is stopped at t's cleanup, and
// Pebble's log is written to t if the test failed.
func StartPebble(t testing.TB, httpPort, tlsPort int) *Pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // validate at once instead of after a random pause
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no deliberately rejected nonces
	p := &Pebble{}
	logs := &wstest.LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", logs)
		}
	})
	logger := log.New(logs, "pebble ", log.Lmicroseconds)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, httpPort, tlsPort, false, StartDNS(t), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	api := front.Handler()
	acmeSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.orders.Add(1)
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(acmeSrv.Close)
	p.Directory = acmeSrv.URL + "/dir"
	p.CAFile = filepath.Join(t.TempDir(), "pebble-api.pem")
	apiCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: acmeSrv.Certificate().Raw})
	if err := os.WriteFile(p.CAFile, apiCert, 0o600); err != nil {
		t.Fatal(err)
	}

	mgmt := httptest.NewTLSServer(front.ManagementHandler())
	t.Cleanup(mgmt.Close)
	rootPEM, err := fetchRoot(mgmt)
	if err != nil {
		t.Fatal(err)
	}
	p.Roots = x509.NewCertPool()
	if !p.Roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("no Pebble root in %q", rootPEM)
	}
	return p
}

// fetchRoot reads Pebble's issuing root, in PEM, from its management
// interface.
func fetchRoot(mgmt *httptest.Server) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, mgmt.URL+"/roots/0", nil)
	if err != nil {
		return nil, err
	}
	resp, err := mgmt.Client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch pebble root: %w", err)
	}
	defer resp.Body.Close()
	rootPEM, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read pebble root: %w", err)
	}
	return rootPEM, nil
}

// PortOf returns the port of a host:port address, such as a listener's,
// to give StartPebble.
func PortOf(t testing.TB, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("port of %s: %v", addr, err)
	}
	return n
}
