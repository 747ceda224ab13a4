package tlsconf

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// selfSignedValidity is how long a development certificate is valid; it is
// regenerated at every start.
const selfSignedValidity = 90 * 24 * time.Hour

// aeadSuites are the TLS 1.2 cipher suites offered: forward-secret AEADs
// only (TLS 1.3 suites are not configurable and all are AEAD).
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Manager owns the certificates and answers each TLS handshake with one.
type Manager struct {
	log           *slog.Logger
	minVersion    uint16
	watchInterval time.Duration

	reloadMu   sync.Mutex  // serializes reloads; guards files' contents
	files      []*fileCert // in configuration order
	selfSigned *tls.Certificate
	certs      atomic.Pointer[certSet]
	acme       *acmeIssuer // nil without ACME
}

// New loads the configured certificates; cfg must have passed Validate.
// Every problem with the files (missing, not PEM, a key that does not
// match its certificate, a name both a file and ACME claim) is reported
// at once, as conftypes.FieldErrors relative to the section, so the
// configuration's reader can name the file and line. ACME keeps its state
// in the tls.acme.cache directory; NewShared keeps it in a store shared
// by a cluster.
func New(cfg Config, log *slog.Logger) (*Manager, error) {
	return newManager(cfg, log, nil)
}

func newManager(cfg Config, log *slog.Logger, store ACMEStore) (*Manager, error) {
	m := &Manager{log: log, minVersion: tls.VersionTLS12, watchInterval: cfg.WatchInterval.D()}
	if cfg.MinVersion == "1.3" {
		m.minVersion = tls.VersionTLS13
	}
	if err := m.loadFiles(cfg); err != nil {
		return nil, err
	}
	if len(cfg.SelfSigned) > 0 {
		c, err := SelfSigned(cfg.SelfSigned, selfSignedValidity)
		if err != nil {
			return nil, fmt.Errorf("self-signed certificate: %w", err)
		}
		if err := writeCertPEM(cfg.SelfSignedCertFile, c); err != nil {
			return nil, err
		}
		attrs := []any{"names", cfg.SelfSigned, "not_after", c.Leaf.NotAfter.Format(time.DateOnly)}
		if cfg.SelfSignedCertFile != "" {
			attrs = append(attrs, "certificate_written_to", cfg.SelfSignedCertFile)
		}
		log.Info("generated a self-signed certificate for development; clients must be told to trust it", attrs...)
		m.selfSigned = c
	}
	if cfg.ACME != nil {
		a, err := newACMEIssuer(cfg.ACME, log, store)
		if err != nil {
			return nil, conftypes.Under("acme", err)
		}
		m.acme = a
		cache := cfg.ACME.cacheDir()
		if store != nil {
			cache = "the cluster's shared store"
		}
		log.Info("ACME enabled", "hosts", cfg.ACME.Hosts, "directory", cfg.ACME.directoryURL(), "cache", cache, "challenge", cfg.ACME.challenge())
	}
	if len(m.files) == 0 && m.selfSigned == nil && m.acme == nil {
		return nil, errors.New("tls: no certificate configured")
	}
	m.certs.Store(m.buildSet())
	return m, nil
}

// Check reads what New would read (certificate pairs, the ACME CA bundle)
// and reports its problems as New does, without generating, writing or
// logging anything: it is what "wsedge validate" runs.
func Check(cfg Config) error {
	errs := []error{(&Manager{}).loadFiles(cfg)}
	if cfg.ACME != nil && cfg.ACME.CA != "" {
		if _, err := loadCertPool(cfg.ACME.CA); err != nil {
			errs = append(errs, conftypes.Field("acme.ca", err))
		}
	}
	return errors.Join(errs...)
}

// loadFiles loads every certificate pair, and checks that ACME does not
// claim a name a file covers.
func (m *Manager) loadFiles(cfg Config) error {
	var errs []error
	fileNames := map[string]string{} // DNS name -> certificate file
	for i, cf := range cfg.Certificates {
		stamp := stampOf(cf)
		c, err := loadPair(cf)
		if err != nil {
			errs = append(errs, conftypes.Field(fmt.Sprintf("certificates[%d].%s", i, pairField(err)), err))
			continue
		}
		for _, n := range c.Leaf.DNSNames {
			fileNames[strings.ToLower(n)] = cf.Cert
		}
		m.files = append(m.files, &fileCert{files: cf, cert: c, loaded: stamp, seen: stamp})
	}
	if cfg.ACME != nil {
		for i, h := range cfg.ACME.Hosts {
			if file := fileNames[strings.ToLower(h)]; file != "" {
				errs = append(errs, conftypes.Field(fmt.Sprintf("acme.hosts[%d]", i), fmt.Errorf("%q is already covered by certificate %s: list it in one place", h, file)))
			}
		}
	}
	return errors.Join(errs...)
}

// writeCertPEM writes c's certificate (never its key) to name, if given.
func writeCertPEM(name string, c *tls.Certificate) error {
	if name == "" {
		return nil
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	if err := os.WriteFile(name, data, 0o644); err != nil {
		return fmt.Errorf("write self-signed certificate: %w", err)
	}
	return nil
}

// buildSet indexes the current certificates: files in configuration
// order, then the self-signed one.
func (m *Manager) buildSet() *certSet {
	var certs []*tls.Certificate
	for _, fc := range m.files {
		certs = append(certs, fc.cert)
	}
	if m.selfSigned != nil {
		certs = append(certs, m.selfSigned)
	}
	return newCertSet(certs)
}

// GetCertificate picks the certificate for a handshake by its SNI name: a
// file or self-signed certificate naming it exactly, then ACME for its
// hosts (including TLS-ALPN-01 challenge handshakes), then a certificate
// whose wildcard covers it, then the default. A client without SNI, or
// with a name nothing covers, gets the default or a handshake failure;
// never an ACME order.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	set := m.certs.Load()
	if c := set.exact[name]; c != nil {
		return c, nil
	}
	if m.acme.covers(name) {
		return m.acme.getCertificate(hello, name)
	}
	if c := set.wildcardFor(name); c != nil {
		return c, nil
	}
	if set.fallback != nil {
		return set.fallback, nil
	}
	return nil, fmt.Errorf("tls: no certificate for %q", hello.ServerName)
}

// ACMEEnabled reports whether certificates are obtained with ACME.
func (m *Manager) ACMEEnabled() bool { return m.acme != nil }

// HTTPHandler answers ACME HTTP-01 challenges on the plain listener and
// passes every other request to fallback. Without ACME it is fallback.
func (m *Manager) HTTPHandler(fallback http.Handler) http.Handler {
	if m.acme == nil {
		return fallback
	}
	return m.acme.manager.HTTPHandler(fallback)
}

// TLSConfig returns the server configuration for the https listener: TLS
// 1.2 or newer (1.3 if so configured), AEAD cipher suites only, session
// tickets on (Go rotates their keys), and ALPN that offers only http/1.1,
// because a WebSocket upgrade is an HTTP/1.1 mechanism (RFC 6455 section
// 4.1): a client that prefers h2 still lands on HTTP/1.1 and can upgrade.
// With ACME, acme-tls/1 is offered too, for TLS-ALPN-01 (RFC 8737),
// unless tls.acme.challenge is http-01: then a validator's acme-tls/1
// handshake fails (no_application_protocol), and autocert turns to
// HTTP-01 on the plain listener.
func (m *Manager) TLSConfig() *tls.Config {
	protos := []string{"http/1.1"}
	if m.acme != nil && !m.acme.http01 {
		protos = append(protos, acme.ALPNProto)
	}
	return &tls.Config{
		GetCertificate: m.GetCertificate,
		MinVersion:     m.minVersion,
		CipherSuites:   aeadSuites,
		NextProtos:     protos,
	}
}
