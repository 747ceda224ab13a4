package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// Check reads the files the section names (credentials, TLS CA and
// client certificate) as Open would, without connecting, and reports
// each that cannot be used as a conftypes.FieldError relative to the
// section. wsedge validate runs it; so does Open.
func Check(cfg Config) error {
	var errs []error
	if cfg.Credentials != "" {
		if _, err := os.ReadFile(cfg.Credentials); err != nil {
			errs = append(errs, conftypes.Field("credentials", fmt.Errorf("read NATS credentials: %w", err)))
		}
	}
	if t := cfg.TLS; t != nil {
		if t.CA != "" {
			errs = append(errs, conftypes.Field("tls.ca", checkCA(t.CA)))
		}
		if t.Cert != "" {
			if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
				errs = append(errs, conftypes.Field("tls.cert", fmt.Errorf("load NATS client certificate: %w", err)))
			}
		}
	}
	return errors.Join(errs...)
}

// checkCA reads a PEM CA bundle; nil if it holds a certificate.
func checkCA(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read NATS CA bundle: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return fmt.Errorf("read NATS CA bundle %s: no PEM certificate in it", file)
	}
	return nil
}
