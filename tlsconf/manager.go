package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// selfSignedValidity is how long a development certificate is valid; it is
// regenerated at every start.
const selfSignedValidity = 90 * 24 * time.Hour

// Manager owns the certificates and answers each TLS handshake with one.
type Manager struct {
	log   *slog.Logger
	certs atomic.Pointer[certSet]
}

// New loads the configured certificates. cfg must have passed Validate.
func New(cfg Config, log *slog.Logger) (*Manager, error) {
	m := &Manager{log: log}
	var certs []*tls.Certificate
	for _, cf := range cfg.Certificates {
		c, err := loadPair(cf)
		if err != nil {
			return nil, err
		}
		if err := leafOf(c); err != nil {
			return nil, fmt.Errorf("%s: %w", cf.Cert, err)
		}
		certs = append(certs, c)
	}
	if len(cfg.SelfSigned) > 0 {
		c, err := SelfSigned(cfg.SelfSigned, selfSignedValidity)
		if err != nil {
			return nil, fmt.Errorf("self-signed certificate: %w", err)
		}
		log.Info("generated a self-signed certificate for development; clients must be told to trust it",
			"names", cfg.SelfSigned, "not_after", c.Leaf.NotAfter.Format(time.DateOnly))
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate configured")
	}
	m.certs.Store(newCertSet(certs))
	return m, nil
}

// GetCertificate picks the certificate for a handshake by its SNI name; it
// is the tls.Config hook.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := m.certs.Load().lookup(hello.ServerName); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("tls: no certificate for %q", hello.ServerName)
}

// TLSConfig returns the server configuration for the https listener:
// TLS 1.2 or newer, AEAD cipher suites only, session tickets on, and ALPN
// that offers only http/1.1, because a WebSocket upgrade is an HTTP/1.1
// mechanism (RFC 6455 section 4.1): a client that prefers h2 still lands
// on HTTP/1.1 and can upgrade.
func (m *Manager) TLSConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: m.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: []string{"http/1.1"},
	}
}
