package tlsconf

import (
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/wsedge/wsedge/internal/acmetest"
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
			httpLn, tlsLn := wstest.Listen(t), wstest.Listen(t)
			t.Setenv("PEBBLE_AUTHZREUSE", "0") // every order validates afresh
			p := acmetest.StartPebble(t, acmetest.PortOf(t, httpLn.Addr().String()), acmetest.PortOf(t, tlsLn.Addr().String()))
			cfg := DefaultConfig()
			cfg.ACME = &ACMEConfig{
				Hosts:     []string{host},
				Cache:     filepath.Join(t.TempDir(), "acme"),
				Directory: p.Directory,
				CA:        p.CAFile,
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
			acmetest.ServeHTTP1(t, httpLn, plain, nil)
			acmetest.ServeHTTP1(t, tlsLn, http.NotFoundHandler(), m.TLSConfig())

			ctx, cancel := context.WithTimeout(context.Background(), acmeWait)
			defer cancel()
			d := tls.Dialer{Config: &tls.Config{ServerName: host, RootCAs: p.Roots, NextProtos: []string{"http/1.1"}}}
			c, err := d.DialContext(ctx, "tcp", tlsLn.Addr().String())
			if err != nil {
				t.Fatalf("handshake for %s with a Pebble certificate: %v", host, err)
			}
			c.Close()
			if got := p.Orders(); got != tc.wantOrders {
				t.Errorf("orders: got %d, want %d", got, tc.wantOrders)
			}
			if got := httpProbes.Load() > 0; got != tc.wantHTTPProbes {
				t.Errorf("HTTP-01 requests on the plain listener: got %d, want some: %v", httpProbes.Load(), tc.wantHTTPProbes)
			}
		})
	}
}
