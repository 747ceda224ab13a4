package tlsconf

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"

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
	// first is the default for clients without SNI or with a name no
	// certificate covers.
	Certificates []CertFile `yaml:"certificates"`
	// SelfSigned lists names (host names or IP addresses) for one ECDSA
	// P-256 certificate generated in memory at startup, for development.
	// Nothing is written to disk. It is the default certificate only when
	// no file is configured.
	SelfSigned []string `yaml:"self_signed"`
}

// Enabled reports whether the section configures any certificate.
func (c *Config) Enabled() bool { return len(c.Certificates) > 0 || len(c.SelfSigned) > 0 }

// ResolvePaths makes relative file names relative to dir, the directory of
// the configuration file, so wsedge behaves the same whatever its working
// directory.
func (c *Config) ResolvePaths(dir string) {
	for i := range c.Certificates {
		c.Certificates[i].Cert = resolve(dir, c.Certificates[i].Cert)
		c.Certificates[i].Key = resolve(dir, c.Certificates[i].Key)
	}
}

func resolve(dir, name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
}

var dnsNameRE = regexp.MustCompile(`^(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`)

// Validate loads every certificate pair once, so a missing file, a file
// that is not PEM or a key that does not match its certificate fails at
// load, naming the file.
func (c *Config) Validate() error {
	var errs []error
	for i, cf := range c.Certificates {
		at := fmt.Sprintf("certificates[%d]", i)
		switch {
		case cf.Cert == "":
			errs = append(errs, conftypes.Field(at+".cert", errors.New("required: a PEM certificate file")))
		case cf.Key == "":
			errs = append(errs, conftypes.Field(at+".key", errors.New("required: a PEM private key file")))
		default:
			if _, err := loadPair(cf); err != nil {
				errs = append(errs, conftypes.Field(at+"."+pairField(err), err))
			}
		}
	}
	for i, name := range c.SelfSigned {
		if net.ParseIP(name) == nil && !dnsNameRE.MatchString(name) {
			errs = append(errs, conftypes.Field(fmt.Sprintf("self_signed[%d]", i), fmt.Errorf("%q is not a host name or IP address", name)))
		}
	}
	return errors.Join(errs...)
}
