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
	// configuration file. Not used in a cluster, whose instances share
	// their ACME state in NATS instead (see NewShared and ACMEStore).
	Cache string `yaml:"cache"`
	// Directory is the CA's ACME directory URL. Default Let's Encrypt's
	// production directory.
	Directory string `yaml:"directory"`
	// CA is an extra PEM bundle to trust for the directory's HTTPS (a
	// private CA, a test CA). Optional.
	CA string `yaml:"ca"`
	// Challenge is the challenge type wsedge means the CA to validate:
	//
	//   - "tls-alpn-01" (the default): answered in the TLS handshake on
	//     the https listener (RFC 8737), which offers acme-tls/1 in ALPN.
	//     With listen.http set, HTTP-01 is answered there too, and
	//     autocert falls back to it if a TLS-ALPN-01 validation fails.
	//   - "http-01": answered on the plain listener, which is then
	//     required (listen.http, on port 80 for a public CA: RFC 8555
	//     section 8.3). acme-tls/1 is not offered, so TLS-ALPN-01 cannot
	//     succeed. autocert has no setting for the challenge type: it
	//     always tries TLS-ALPN-01 first and HTTP-01 only once that
	//     fails (golang.org/x/crypto/acme/autocert, verifyRFC and
	//     supportedChallengeTypes). So each new authorization starts with
	//     one TLS-ALPN-01 validation the CA sees fail, then a second order
	//     answered with HTTP-01 (TestACMEChallengeChoice): a certificate
	//     takes about a second longer, and the failure counts against the
	//     CA's failed-validation limit (Let's Encrypt: 5 per account,
	//     name and hour). What it buys: the plain listener is required at
	//     load rather than found missing at the first order, and the https
	//     listener never answers acme-tls/1 (when what is in front of port
	//     443 should not, or cannot, carry TLS-ALPN-01). The default
	//     already falls back to HTTP-01 when listen.http is set.
	Challenge string `yaml:"challenge"`
}

// Challenge types (ACMEConfig.Challenge).
const (
	ChallengeTLSALPN01 = "tls-alpn-01"
	ChallengeHTTP01    = "http-01"
)

// DefaultACMECache is ACMEConfig.Cache's default.
const DefaultACMECache = "certs/acme"

func (a *ACMEConfig) cacheDir() string {
	if a.Cache == "" {
		return DefaultACMECache
	}
	return a.Cache
}

// HTTP01 reports whether the section chose the http-01 challenge, which
// needs the plain listener: the configuration loader checks that it is
// set.
func (a *ACMEConfig) HTTP01() bool { return a != nil && a.Challenge == ChallengeHTTP01 }

func (a *ACMEConfig) challenge() string {
	if a.Challenge == "" {
		return ChallengeTLSALPN01
	}
	return a.Challenge
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
	switch a.Challenge {
	case "", ChallengeTLSALPN01, ChallengeHTTP01:
	default:
		errs = append(errs, conftypes.Field("challenge", fmt.Errorf("%q: want %q or %q", a.Challenge, ChallengeTLSALPN01, ChallengeHTTP01)))
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

// acmeIssuer obtains certificates for its hosts and answers the challenge
// types: TLS-ALPN-01 through the handshake (unless http01), HTTP-01
// through HTTPHandler.
type acmeIssuer struct {
	manager *autocert.Manager
	hosts   map[string]bool
	// http01: tls.acme.challenge is http-01, so acme-tls/1 is not
	// offered and TLS-ALPN-01 validations fail (see Challenge).
	http01 bool
	// shared is set when the ACME state is in a cluster's store rather
	// than in the cache directory.
	shared *sharedState
}

// newACMEIssuer makes the issuer; store, if not nil, replaces the cache
// directory.
func newACMEIssuer(cfg *ACMEConfig, log *slog.Logger, store ACMEStore) (*acmeIssuer, error) {
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
	var cache autocert.Cache = autocert.DirCache(cfg.cacheDir())
	var shared *sharedState
	if store != nil {
		cache = store
		shared = &sharedState{store: store}
	}
	m := &autocert.Manager{
		Prompt: autocert.AcceptTOS,
		Cache:  cache,
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
	return &acmeIssuer{manager: m, hosts: hosts, http01: cfg.HTTP01(), shared: shared}, nil
}

// covers reports whether name is one of the hosts.
func (a *acmeIssuer) covers(name string) bool { return a != nil && a.hosts[name] }
