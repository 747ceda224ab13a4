// Package config reads wsedge's YAML configuration file. It composes the
// sections each package owns (proxy.Config at the top level,
// tlsconf.Config under tls, admin.Config under admin, cluster.Config
// under cluster), decodes strictly, runs every section's Validate (which
// reads no file), and reports every problem at once with its file and
// line. The build step's errors (files that cannot be read) are located
// the same way by File.Locate.
//
// It sits above proxy, tlsconf, admin and cluster and below main: it
// wires configuration data, never runtime objects.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/wsedge/wsedge/admin"
	"github.com/wsedge/wsedge/cluster"
	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/proxy"
	"github.com/wsedge/wsedge/tlsconf"
)

// File is a whole configuration file.
type File struct {
	// Config holds every top-level section except tls.
	proxy.Config `yaml:",inline"`
	// TLS is the tls section.
	TLS tlsconf.Config `yaml:"tls"`
	// Admin is the admin section: the admin listener.
	Admin admin.Config `yaml:"admin"`
	// Cluster is the cluster section: the NATS servers the instances
	// share rooms and certificates through (issue 12).
	Cluster cluster.Config `yaml:"cluster"`

	// name and root locate the errors of the build step (Locate).
	name string
	root *yaml.Node
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultName is how errors and logs name the embedded default.
const DefaultName = "(embedded default)"

// Default returns the embedded development configuration that runs when no
// -config is given.
func Default() (*File, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	return Parse(DefaultName, defaultYAML, dir)
}

// Load reads and checks the file at path. Relative file names inside it
// are taken relative to the file's directory.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, filepath.Dir(abs))
}

// Parse decodes and checks a configuration. name labels the errors; dir
// anchors relative file names. Every problem found is returned at once as
// *Errors.
func Parse(name string, data []byte, dir string) (*File, error) {
	p := &parser{name: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.hint = syntaxHint(data)
		p.syntaxError(err)
		return nil, p.result()
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		p.add(max(doc.Line, 1), "", errors.New("the configuration must be a YAML mapping with listen, tls, routes, ... keys"))
		return nil, p.result()
	}
	root := doc.Content[0]
	p.root = root
	f := &File{Config: proxy.DefaultConfig(), TLS: tlsconf.DefaultConfig()}
	p.checkKeys(root, typeOfFile, "")
	badPaths := p.decode(root, f)
	f.TLS.ResolvePaths(dir)
	f.Cluster.ResolvePaths(dir)
	f.Routes.ResolvePaths(dir)
	for _, err := range conftypes.Flatten(f.Validate()) {
		var fe *conftypes.FieldError
		if !errors.As(err, &fe) {
			p.add(root.Line, "", err)
			continue
		}
		if coveredBy(fe.Path, badPaths) {
			continue // its value failed to decode, already reported
		}
		p.addField(root, fe)
	}
	if err := p.result(); err != nil {
		return nil, err
	}
	f.name, f.root = name, root
	return f, nil
}

// Locate reports the errors of building what the file configures
// (tlsconf.New, proxy.Build: the steps that read certificate files, CA
// bundles and tail roots) as Parse reports its own: *Errors naming the
// file, line and field of each conftypes.FieldError, whose paths are
// relative to the file's root. Errors without a field are reported at the
// top of the file. Locate(nil) is nil.
func (f *File) Locate(err error) error {
	if err == nil {
		return nil
	}
	p := &parser{name: f.name, root: f.root}
	for _, err := range conftypes.Flatten(err) {
		var fe *conftypes.FieldError
		if errors.As(err, &fe) {
			p.addField(f.root, fe)
		} else {
			p.add(f.root.Line, "", err)
		}
	}
	return p.result()
}

// Validate checks every section and the ways they depend on each other.
func (f *File) Validate() error {
	errs := []error{f.Config.Validate(), conftypes.Under("tls", f.TLS.Validate()), conftypes.Under("admin", f.Admin.Validate()),
		conftypes.Under("cluster", f.Cluster.Validate())}
	if f.Listen.HTTPS != "" && !f.TLS.Enabled() {
		errs = append(errs, conftypes.Field("listen.https", errors.New("the https listener needs a certificate: set tls.certificates, tls.self_signed or tls.acme")))
	}
	if f.TLS.ACME != nil && f.Listen.HTTPS == "" {
		errs = append(errs, conftypes.Field("tls.acme", errors.New("ACME certificates are served on the https listener: set listen.https")))
	}
	if f.TLS.ACME.HTTP01() && f.Listen.HTTP == "" {
		// Reported at the choice rather than at the missing listen.http:
		// the choice is what asks for the plain listener, and dropping
		// it is the other fix.
		errs = append(errs, conftypes.Field("tls.acme.challenge", errors.New("http-01 challenges are answered on the plain listener: set listen.http (e.g. :80), or use tls-alpn-01")))
	}
	if f.TLS.HSTS > 0 && f.Listen.HTTPS == "" {
		errs = append(errs, conftypes.Field("tls.hsts", errors.New("the Strict-Transport-Security header is sent only on the https listener: set listen.https")))
	}
	return errors.Join(errs...)
}
