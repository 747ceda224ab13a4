package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// ACMEConfig is the tls.acme section: certificates obtained and renewed
// from an ACME CA (Let's Encrypt by default) with
// golang.org/x/crypto/acme/autocert.
type ACMEConfig struct {
	// Hosts are the only names certificates are requested for; a
	// handshake for any other name never starts an order.
	Hosts []string `yaml:"hosts"`
	// Email is given to the CA for expiry notices. Optional.
	Email string `yaml:"email"`
	// Cache is the directory holding the account key and certificates
	// (created 0700, files 0600). Default "certs/acme", relative to the
	// configuration file.
	Cache string `yaml:"cache"`
	// Directory is the CA's ACME directory URL. Default Let's Encrypt's
	// production directory.
	Directory string `yaml:"directory"`
	// CA is an extra PEM bundle to trust for the directory's HTTPS (a
	// private CA, a test CA). Optional.
	CA string `yaml:"ca"`
}

// DefaultACMECache is ACMEConfig.Cache's default.
const DefaultACMECache = "certs/acme"

func (a *ACMEConfig) cacheDir() string {
	if a.Cache == "" {
		return DefaultACMECache
	}
	return a.Cache
}

func (a *ACMEConfig) directoryURL() string {
	if a.Directory == "" {
		return autocert.DefaultACMEDirectory
	}
	return a.Directory
}

// validate checks the section. That no configured certificate file also
// covers one of its hosts is checked by New, which reads the files.
func (a *ACMEConfig) validate() error {
	var errs []error
	if len(a.Hosts) == 0 {
		errs = append(errs, conftypes.Field("hosts", errors.New("list the names to obtain certificates for")))
	}
	for i, h := range a.Hosts {
		at := fmt.Sprintf("hosts[%d]", i)
		switch {
		case strings.Contains(h, "*"):
			errs = append(errs, conftypes.Field(at, fmt.Errorf("%q: wildcard names need the DNS-01 challenge, which wsedge does not do", h)))
		case net.ParseIP(h) != nil || !dnsNameRE.MatchString(h):
			errs = append(errs, conftypes.Field(at, fmt.Errorf("%q is not a DNS name", h)))
		}
	}
	if u, err := url.Parse(a.directoryURL()); err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, conftypes.Field("directory", fmt.Errorf("%q is not an https:// URL", a.Directory)))
	}
	return errors.Join(errs...)
}

// loadCertPool returns the system roots plus the certificates in file.
func loadCertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read CA bundle %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// acmeIssuer obtains certificates for its hosts and answers both challenge
// types: TLS-ALPN-01 through the handshake, HTTP-01 through HTTPHandler.
type acmeIssuer struct {
	manager *autocert.Manager
	hosts   map[string]bool
}

func newACMEIssuer(cfg *ACMEConfig, log *slog.Logger) (*acmeIssuer, error) {
	httpClient := &http.Client{Timeout: time.Minute}
	if cfg.CA != "" {
		pool, err := loadCertPool(cfg.CA)
		if err != nil {
			return nil, conftypes.Field("ca", err)
		}
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = &tls.Config{RootCAs: pool}
		httpClient.Transport = transport
	}
	hosts := map[string]bool{}
	for _, h := range cfg.Hosts {
		hosts[strings.ToLower(h)] = true
	}
	whitelist := autocert.HostWhitelist(cfg.Hosts...)
	m := &autocert.Manager{
		Prompt: autocert.AcceptTOS,
		Cache:  autocert.DirCache(cfg.cacheDir()),
		// autocert hands HTTP-01 requests' Host header to the policy
		// as is; a validator on a non-default port sends "name:port",
		// so the port comes off first.
		HostPolicy: func(ctx context.Context, host string) error {
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			if err := whitelist(ctx, host); err != nil {
				log.Warn("refused a certificate request for a name not in tls.acme.hosts", "name", host)
				return err
			}
			return nil
		},
		Email:  cfg.Email,
		Client: &acme.Client{DirectoryURL: cfg.directoryURL(), HTTPClient: httpClient},
	}
	return &acmeIssuer{manager: m, hosts: hosts}, nil
}

// covers reports whether name is one of the hosts.
func (a *acmeIssuer) covers(name string) bool { return a != nil && a.hosts[name] }
