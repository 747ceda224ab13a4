package tlsconf

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"time"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// CertFile is a certificate chain and its private key, both PEM files.
type CertFile struct {
	// Cert is the certificate chain, leaf first.
	Cert string `yaml:"cert"`
	// Key is the leaf's private key.
	Key string `yaml:"key"`
}

// Config is the tls section.
type Config struct {
	// Certificates are served to clients whose SNI name they cover; the
	// first is the default for clients without SNI or with a name nothing
	// covers. When a file changes on disk (or on SIGHUP) the pair is loaded
	// again; a broken new pair is refused and the old one kept.
	Certificates []CertFile `yaml:"certificates"`
	// SelfSigned lists names (host names or IP addresses) for one ECDSA
	// P-256 certificate generated in memory at startup, for development.
	// It is the default certificate only when no file is configured.
	SelfSigned []string `yaml:"self_signed"`
	// SelfSignedCertFile, if set, is where the generated certificate (never
	// its key) is written, so a client can trust it (curl --cacert FILE).
	// Empty (the default): nothing is written.
	SelfSignedCertFile string `yaml:"self_signed_cert_file"`
	// ACME obtains and renews certificates for its hosts. Absent: no ACME.
	ACME *ACMEConfig `yaml:"acme"`
	// MinVersion is the oldest TLS version accepted: "1.2" (the default)
	// or "1.3".
	MinVersion string `yaml:"min_version"`
	// WatchInterval is how often certificate files are checked for
	// changes. Default 2s; 0 disables watching (SIGHUP still reloads).
	WatchInterval conftypes.Duration `yaml:"watch_interval"`
	// HSTS is the max-age of the Strict-Transport-Security header sent
	// with every response on the https listener (RFC 6797 section 6.1),
	// e.g. "1y": browsers that saw it use https only for this host until
	// it expires, so a downgrade to ws:// or http:// cannot be forced on
	// them. Whole seconds are sent; at least 1s. Zero (the default): no
	// header, nothing is pinned.
	HSTS conftypes.Duration `yaml:"hsts"`
	// HSTSIncludeSubdomains adds includeSubDomains to the header, pinning
	// every subdomain of the host as well (RFC 6797 section 6.1.2): set it
	// only when all of them serve https. Needs HSTS. Default false.
	HSTSIncludeSubdomains bool `yaml:"hsts_include_subdomains"`
}

// DefaultWatchInterval is WatchInterval's default.
const DefaultWatchInterval = conftypes.Duration(2 * time.Second)

// DefaultConfig returns the section's defaults.
func DefaultConfig() Config {
	return Config{MinVersion: "1.2", WatchInterval: DefaultWatchInterval}
}

// Enabled reports whether the section configures any certificate source.
func (c *Config) Enabled() bool {
	return len(c.Certificates) > 0 || len(c.SelfSigned) > 0 || c.ACME != nil
}

// ResolvePaths makes relative file names relative to dir, the directory of
// the configuration file, so wsedge behaves the same whatever its working
// directory.
func (c *Config) ResolvePaths(dir string) {
	for i := range c.Certificates {
		c.Certificates[i].Cert = conftypes.ResolvePath(dir, c.Certificates[i].Cert)
		c.Certificates[i].Key = conftypes.ResolvePath(dir, c.Certificates[i].Key)
	}
	c.SelfSignedCertFile = conftypes.ResolvePath(dir, c.SelfSignedCertFile)
	if c.ACME != nil {
		c.ACME.Cache = conftypes.ResolvePath(dir, c.ACME.cacheDir())
		c.ACME.CA = conftypes.ResolvePath(dir, c.ACME.CA)
	}
}

var dnsNameRE = regexp.MustCompile(`^(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`)

// Validate checks the section without reading any file: New reads the
// certificate pairs and CA bundle, and reports what is wrong with them
// the same way.
func (c *Config) Validate() error {
	var errs []error
	for i, cf := range c.Certificates {
		at := fmt.Sprintf("certificates[%d]", i)
		switch {
		case cf.Cert == "":
			errs = append(errs, conftypes.Field(at+".cert", errors.New("required: a PEM certificate file")))
		case cf.Key == "":
			errs = append(errs, conftypes.Field(at+".key", errors.New("required: a PEM private key file")))
		}
	}
	for i, name := range c.SelfSigned {
		if net.ParseIP(name) == nil && !dnsNameRE.MatchString(name) {
			errs = append(errs, conftypes.Field(fmt.Sprintf("self_signed[%d]", i), fmt.Errorf("%q is not a host name or IP address", name)))
		}
	}
	if c.SelfSignedCertFile != "" && len(c.SelfSigned) == 0 {
		errs = append(errs, conftypes.Field("self_signed_cert_file", errors.New("set self_signed too: there is no certificate to write")))
	}
	if c.MinVersion != "1.2" && c.MinVersion != "1.3" {
		errs = append(errs, conftypes.Field("min_version", fmt.Errorf("%q: want \"1.2\" or \"1.3\"", c.MinVersion)))
	}
	if c.WatchInterval < 0 {
		errs = append(errs, conftypes.Field("watch_interval", errors.New("must not be negative")))
	}
	errs = append(errs, c.validateHSTS())
	if c.ACME != nil {
		errs = append(errs, conftypes.Under("acme", c.ACME.validate()))
	}
	return errors.Join(errs...)
}
