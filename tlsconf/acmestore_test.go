package tlsconf

import (
	"context"
	"crypto/tls"
	"net/http"
	"sync"
	"testing"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/wsedge/wsedge/internal/wstest"
)

// keyRecorder is a real autocert cache (a directory) that records the
// keys autocert reads.
type keyRecorder struct {
	autocert.DirCache
	mu   sync.Mutex
	keys []string
}

func (r *keyRecorder) Get(ctx context.Context, key string) ([]byte, error) {
	r.mu.Lock()
	r.keys = append(r.keys, key)
	r.mu.Unlock()
	return r.DirCache.Get(ctx, key)
}

// TestAutocertKeyMatchesAutocert checks that the key a shared store is
// waited on for a handshake (autocertKey) is the key autocert itself then
// reads, for clients with and without ECDSA: waiting on another key would
// leave autocert to wait under its own mutex.
func TestAutocertKeyMatchesAutocert(t *testing.T) {
	const name = "key.wsedge.test"
	cases := []struct {
		name  string
		hello tls.ClientHelloInfo
		want  string
	}{
		{"ECDSA", tls.ClientHelloInfo{
			SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256},
			SupportedCurves:  []tls.CurveID{tls.X25519, tls.CurveP256},
			CipherSuites:     []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		}, name},
		{"RSA signatures only", tls.ClientHelloInfo{
			SignatureSchemes: []tls.SignatureScheme{tls.PSSWithSHA256, tls.PKCS1WithSHA256},
			SupportedCurves:  []tls.CurveID{tls.CurveP256},
			CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		}, name + "+rsa"},
		{"no P-256", tls.ClientHelloInfo{
			SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
			SupportedCurves:  []tls.CurveID{tls.X25519},
			CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		}, name + "+rsa"},
		{"no ECDSA suite", tls.ClientHelloInfo{
			SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
			SupportedCurves:  []tls.CurveID{tls.CurveP256},
			CipherSuites:     []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		}, name + "+rsa"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &keyRecorder{DirCache: autocert.DirCache(t.TempDir())}
			// A CA nothing answers for: autocert reads its cache, then
			// fails to order.
			m := &autocert.Manager{
				Prompt:     autocert.AcceptTOS,
				Cache:      rec,
				HostPolicy: autocert.HostWhitelist(name),
				Client:     &acme.Client{DirectoryURL: "https://" + wstest.ClosedAddr(t) + "/dir", HTTPClient: &http.Client{Timeout: waitLimit}},
			}
			hello := tc.hello
			hello.ServerName = name
			if _, err := m.GetCertificate(&hello); err == nil {
				t.Fatal("got a certificate from a CA that does not exist")
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.keys) == 0 || rec.keys[0] != tc.want {
				t.Fatalf("autocert read %q first, want %q", rec.keys, tc.want)
			}
			if got := autocertKey(&hello, name); got != rec.keys[0] {
				t.Errorf("autocertKey: got %q, autocert reads %q", got, rec.keys[0])
			}
		})
	}
}

// TestNewSharedWithoutStore checks that NewShared without a store is New:
// ACME state in the cache directory.
func TestNewSharedWithoutStore(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ACME = &ACMEConfig{Hosts: []string{"dir.wsedge.test"}, Cache: t.TempDir()}
	m, err := NewShared(cfg, discardLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.acme.manager.Cache.(autocert.DirCache); !ok || m.acme.shared != nil {
		t.Errorf("cache: got %T (shared %v), want the directory", m.acme.manager.Cache, m.acme.shared != nil)
	}
}
