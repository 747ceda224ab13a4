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
	file  string
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

// loadPair reads and checks a certificate file and its key file: both
// must parse and the key must match the leaf.
func loadPair(cf CertFile) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(cf.Cert)
	if err != nil {
		return nil, &pairError{"cert", cf.Cert, fmt.Errorf("read certificate: %w", err)}
	}
	keyPEM, err := os.ReadFile(cf.Key)
	if err != nil {
		return nil, &pairError{"key", cf.Key, fmt.Errorf("read key: %w", err)}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		pe := &pairError{"cert", cf.Cert, fmt.Errorf("load %s and %s: %w", cf.Cert, cf.Key, err)}
		if strings.Contains(err.Error(), "private key") {
			pe.field, pe.file = "key", cf.Key
		}
		return nil, pe
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, &pairError{"cert", cf.Cert, fmt.Errorf("parse %s: %w", cf.Cert, err)}
		}
	}
	return &cert, nil
}

// certSet is an immutable index of certificates by the names they cover.
// A reload builds a new one and swaps it in.
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

// wildcardFor returns the certificate whose "*." name covers name (one
// label, RFC 6125 section 6.4.3).
func (s *certSet) wildcardFor(name string) *tls.Certificate {
	if _, parent, ok := strings.Cut(name, "."); ok {
		return s.wildcard[parent]
	}
	return nil
}
