package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/internal/acmetest"
	"github.com/wsedge/wsedge/internal/wstest"
)

// acmeConfig is a wsedge configuration with ACME from Pebble and one
// proxied route; /plain is allowed on the plain listener.
func acmeConfig(p *acmetest.Pebble, host, cache, backend string) string {
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
`, host, cache, p.Directory, p.CAFile, backend)
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
			httpPort, tlsPort := acmetest.PortOf(t, ls.HTTP.Addr().String()), acmetest.PortOf(t, ls.HTTPS.Addr().String())
			if tc.challenge == "tls-alpn-01" {
				httpPort = acmetest.PortOf(t, wstest.ClosedAddr(t))
			} else {
				tlsPort = acmetest.PortOf(t, wstest.ClosedAddr(t))
			}
			p := acmetest.StartPebble(t, httpPort, tlsPort)
			dir := t.TempDir()
			app := startApp(t, dir, acmeConfig(p, host, cache, backend), ls)

			c, err := app.dialWSS(t, host, "/ws", p.Roots)
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
			ordersAfterIssue := p.Orders()
			checkCachePermissions(t, cache)

			// A name outside acme.hosts: no certificate, and no order.
			if _, err := app.dialWSS(t, "other.wsedge.test", "/ws", p.Roots); err == nil {
				t.Error("a name outside acme.hosts got a certificate")
			}
			if got := p.Orders(); got != ordersAfterIssue {
				t.Errorf("orders after a foreign name: got %d, want %d", got, ordersAfterIssue)
			}

			// The plain listener redirects to https, except plain: true.
			checkPlainListener(t, app, host)

			// Restart on the same cache: the cached certificate is served
			// with no new order.
			c.Close()
			app.stop()
			app2 := startApp(t, dir, acmeConfig(p, host, cache, backend), listenLoopback(t))
			c2, err := app2.dialWSS(t, host, "/ws", p.Roots)
			if err != nil {
				t.Fatalf("wss after restart: %v", err)
			}
			roundTrip(t, c2, "hello again")
			if got := servedLeaf(t, c2).SerialNumber; got.Cmp(leaf.SerialNumber) != 0 {
				t.Errorf("after restart: serial %s, want the cached %s", got, leaf.SerialNumber)
			}
			if got := p.Orders(); got != ordersAfterIssue {
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
	req.Host = host + ":" + strconv.Itoa(acmetest.PortOf(t, app.plainAddr))
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "https://" + host + ":" + strconv.Itoa(acmetest.PortOf(t, app.tlsAddr)) + "/ws?x=1"
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
