package cluster

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// Config is the cluster section. Absent (no nats URL): the instance
// runs alone, its rooms and certificates its own.
type Config struct {
	// NATS lists the URLs of the NATS servers to connect to, e.g.
	// nats://127.0.0.1:4222 (tls:// for TLS). Several URLs are tried in
	// turn, and again on every reconnect.
	NATS []string `yaml:"nats"`
	// Name is the cluster's name: its room subjects are
	// <name>.room.<route>.<room>, and the instances sharing a name share
	// rooms and certificates. Default "wsedge". Letters, digits, "_" and
	// "-".
	Name string `yaml:"name"`
	// Instance names this instance to NATS (its connection name) and in
	// the cluster's log lines. Default: the host name and process ID.
	Instance string `yaml:"instance"`
	// Credentials is a NATS credentials file (a user JWT and its NKey
	// seed, as nsc writes it). Needed by a NATS server with
	// decentralized authentication.
	Credentials string `yaml:"credentials"`
	// TLS secures the connection to NATS: a CA bundle to verify the
	// servers with, and a client certificate if the servers ask for one.
	TLS *TLSConfig `yaml:"tls"`
	// ReconnectWait is how long to wait between attempts to reach a NATS
	// server again. Default 1s.
	ReconnectWait conftypes.Duration `yaml:"reconnect_wait"`
	// ACME is the shared store of tls.acme: used when tls.acme is set.
	ACME ACMEStoreConfig `yaml:"acme"`
}

// TLSConfig is how the instance connects to NATS over TLS.
type TLSConfig struct {
	// CA is a PEM bundle the servers' certificates must chain to.
	// Empty: the system roots.
	CA string `yaml:"ca"`
	// Cert and Key are a client certificate and its key, in PEM, for
	// servers that verify clients.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// ACMEStoreConfig is where the cluster keeps the ACME state.
type ACMEStoreConfig struct {
	// Bucket is the JetStream key-value bucket holding the ACME account
	// key and the certificates with their private keys. Default
	// "<name>_acme". Locks live in "<bucket>_locks".
	Bucket string `yaml:"bucket"`
	// LockTTL bounds how long an instance may hold a name's lock while
	// it orders the certificate; if it dies meanwhile, another instance
	// orders after that. Default 10m.
	LockTTL conftypes.Duration `yaml:"lock_ttl"`
}

// Defaults of the optional settings.
const (
	DefaultName          = "wsedge"
	DefaultReconnectWait = time.Second
	DefaultLockTTL       = 10 * time.Minute
)

// Enabled reports whether the instance is part of a cluster.
func (c *Config) Enabled() bool { return len(c.NATS) > 0 }

// name is the cluster's name, defaulted.
func (c *Config) name() string {
	if c.Name == "" {
		return DefaultName
	}
	return c.Name
}

// bucket is the ACME store's bucket, defaulted.
func (c *Config) bucket() string {
	if c.ACME.Bucket == "" {
		return c.name() + "_acme"
	}
	return c.ACME.Bucket
}

// lockTTL is the ACME store's lock TTL, defaulted.
func (c *Config) lockTTL() time.Duration {
	if c.ACME.LockTTL == 0 {
		return DefaultLockTTL
	}
	return c.ACME.LockTTL.D()
}

func (c *Config) reconnectWait() time.Duration {
	if c.ReconnectWait == 0 {
		return DefaultReconnectWait
	}
	return c.ReconnectWait.D()
}

// ResolvePaths makes the section's file names relative to dir, the
// configuration file's directory.
func (c *Config) ResolvePaths(dir string) {
	if c.Credentials != "" {
		c.Credentials = conftypes.ResolvePath(dir, c.Credentials)
	}
	if t := c.TLS; t != nil {
		for _, p := range []*string{&t.CA, &t.Cert, &t.Key} {
			if *p != "" {
				*p = conftypes.ResolvePath(dir, *p)
			}
		}
	}
}

// token is what a subject token and a bucket name may be made of.
var token = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Validate checks the section; it reads no file.
func (c *Config) Validate() error {
	if !c.Enabled() {
		if c.Name != "" || c.Instance != "" || c.Credentials != "" || c.TLS != nil || c.ACME != (ACMEStoreConfig{}) {
			return conftypes.Field("nats", errors.New("required: the URLs of the NATS servers (the other cluster settings need them)"))
		}
		return nil
	}
	var errs []error
	for i, u := range c.NATS {
		if err := checkURL(u); err != nil {
			errs = append(errs, conftypes.Field(fmt.Sprintf("nats[%d]", i), err))
		}
	}
	if c.Name != "" && !token.MatchString(c.Name) {
		errs = append(errs, conftypes.Field("name", fmt.Errorf("%q: want letters, digits, _ and - only (it is a NATS subject token)", c.Name)))
	}
	if c.ACME.Bucket != "" && !token.MatchString(c.ACME.Bucket) {
		errs = append(errs, conftypes.Field("acme.bucket", fmt.Errorf("%q: want letters, digits, _ and - only (a JetStream bucket name)", c.ACME.Bucket)))
	}
	if c.ACME.LockTTL < 0 || (c.ACME.LockTTL != 0 && c.ACME.LockTTL.D() < time.Second) {
		errs = append(errs, conftypes.Field("acme.lock_ttl", errors.New("want at least 1s")))
	}
	if c.ReconnectWait < 0 {
		errs = append(errs, conftypes.Field("reconnect_wait", errors.New("must not be negative")))
	}
	if t := c.TLS; t != nil && (t.Cert == "") != (t.Key == "") {
		errs = append(errs, conftypes.Field("tls", errors.New("set both cert and key, or neither")))
	}
	return errors.Join(errs...)
}

// checkURL accepts what nats.go dials: nats://, tls://, ws:// or wss://
// with a host.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("%q: want nats://host:port or tls://host:port", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", s)
	}
	return nil
}
