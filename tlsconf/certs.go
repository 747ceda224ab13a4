package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// pairError says which file of a pair is at fault.
type pairError struct {
	field string // "cert" or "key"
	err   error
}

func (e *pairError) Error() string { return e.err.Error() }
func (e *pairError) Unwrap() error { return e.err }

func pairField(err error) string {
	var pe *pairError
	if errors.As(err, &pe) {
		return pe.field
	}
	return "cert"
}

// loadPair reads and checks a certificate file and its key file.
func loadPair(cf CertFile) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(cf.Cert)
	if err != nil {
		return nil, &pairError{"cert", fmt.Errorf("read certificate: %w", err)}
	}
	keyPEM, err := os.ReadFile(cf.Key)
	if err != nil {
		return nil, &pairError{"key", fmt.Errorf("read key: %w", err)}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		field := "cert"
		if strings.Contains(err.Error(), "private key") {
			field = "key"
		}
		return nil, &pairError{field, fmt.Errorf("load %s and %s: %w", cf.Cert, cf.Key, err)}
	}
	return &cert, nil
}

// certSet is an immutable index of certificates by the names they cover.
type certSet struct {
	exact    map[string]*tls.Certificate // by lower-case DNS name
	wildcard map[string]*tls.Certificate // by the domain under "*."
	fallback *tls.Certificate            // for no SNI or an unknown name
}

func newCertSet(certs []*tls.Certificate) *certSet {
	s := &certSet{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}}
	for _, c := range certs {
		if s.fallback == nil {
			s.fallback = c
		}
		for _, name := range c.Leaf.DNSNames {
			name = strings.ToLower(name)
			if rest, ok := strings.CutPrefix(name, "*."); ok {
				if s.wildcard[rest] == nil {
					s.wildcard[rest] = c
				}
			} else if s.exact[name] == nil {
				s.exact[name] = c
			}
		}
	}
	return s
}

// lookup returns the certificate for an SNI name: an exact name first,
// then a wildcard one label up, then the default.
func (s *certSet) lookup(serverName string) *tls.Certificate {
	name := strings.TrimSuffix(strings.ToLower(serverName), ".")
	if c := s.exact[name]; c != nil {
		return c
	}
	if _, parent, ok := strings.Cut(name, "."); ok {
		if c := s.wildcard[parent]; c != nil {
			return c
		}
	}
	return s.fallback
}

// leafOf parses the leaf so names can be indexed (tls.X509KeyPair fills
// Leaf since Go 1.23, but a generated certificate may not have it).
func leafOf(c *tls.Certificate) error {
	if c.Leaf != nil {
		return nil
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return fmt.Errorf("parse certificate: %w", err)
	}
	c.Leaf = leaf
	return nil
}
