package routes

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/forwardauth"
	"github.com/wsedge/wsedge/internal/netset"
	"github.com/wsedge/wsedge/internal/origin"
	"github.com/wsedge/wsedge/upstream"
)

// Route is one entry of the YAML routes list.
type Route struct {
	// Name is optional; it labels the route in logs and errors. Names must
	// be unique when given.
	Name string `yaml:"name"`
	// Host restricts the route to one host name ("chat.example.com") or to
	// the names one label below a domain ("*.example.com"). Empty matches
	// any host. Matching ignores case, the port and a trailing dot.
	Host string `yaml:"host"`
	// Path is an httprouter pattern: ":name" matches one segment, "*name"
	// the rest of the path and must come last.
	Path string `yaml:"path"`
	// Plain serves the route on the plain listener even when that listener
	// redirects everything else to https (listen.redirect_to_https).
	Plain bool `yaml:"plain"`
	// Origins are the pages that may open a WebSocket on the route (see
	// internal/origin): "any", "same-host", origins and wildcard
	// subdomains. Unset: the top-level origins, else same-host for
	// built-in handlers and any (the backend decides) for backends.
	Origins []string `yaml:"origins"`
	// Allow and Deny are the client networks the route admits and
	// refuses (403), as CIDRs or addresses: a client in Deny is refused,
	// and when Allow is set a client outside it is too. Unset (absent):
	// the top-level allow and deny; an empty list overrides them with
	// nothing.
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
	// Limits are the route's own connection and message limits.
	Limits Limits `yaml:"limits"`
	// Auth is the route's forward authentication (see
	// internal/forwardauth). Unset: the top-level auth; `auth: {off:
	// true}` turns that off for the route.
	Auth *forwardauth.Config `yaml:"auth"`
	// Compression says whether permessage-deflate (RFC 7692) may be
	// negotiated on the route's connections. CompressionPassthrough (the
	// default; also when empty): a backend route forwards the client's
	// Sec-WebSocket-Extensions offer to the backend and relays the
	// backend's answer, and compressed frames cross wsedge untouched (it
	// never compresses or decompresses them); a built-in handler
	// negotiates compression itself. CompressionOff: no extension is
	// offered or accepted on either leg.
	Compression string `yaml:"compression"`
	// Config says where matching requests go: a backend or a handler.
	upstream.Config `yaml:",inline"`
}

// The values of Route.Compression.
const (
	CompressionPassthrough = "passthrough"
	CompressionOff         = "off"
)

// Compresses reports whether permessage-deflate may be negotiated on the
// route (see Compression).
func (r *Route) Compresses() bool { return r.Compression != CompressionOff }

// Limits are a route's own limits (issue 10); what is unset takes the
// top-level limits section.
type Limits struct {
	// MaxConnections bounds the route's upgraded connections open at
	// once: 503 with Retry-After over it. 0 (the default): bounded only
	// by the top-level limits.max_connections.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerIP bounds one client address's (IPv6: its /64's)
	// upgraded connections on this route; the top-level
	// limits.max_connections_per_ip, which counts them on every route,
	// applies as well. 0 (the default): no bound of the route's own.
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
	// ClientMessageRate is the route's own bound on what each client may
	// send. Unset: the top-level limits.client_message_rate.
	ClientMessageRate *conftypes.MessageRate `yaml:"client_message_rate"`
}

func (l *Limits) validate() error {
	var errs []error
	if l.MaxConnections < 0 {
		errs = append(errs, conftypes.Field("max_connections", errors.New("must not be negative")))
	}
	if l.MaxConnectionsPerIP < 0 {
		errs = append(errs, conftypes.Field("max_connections_per_ip", errors.New("must not be negative")))
	}
	if l.ClientMessageRate != nil {
		errs = append(errs, conftypes.Under("client_message_rate", l.ClientMessageRate.Validate()))
	}
	return errors.Join(errs...)
}

// ResolvePaths makes relative file names in every route relative to dir,
// the configuration file's directory.
func (c Config) ResolvePaths(dir string) {
	for i := range c {
		c[i].Config.ResolvePaths(dir)
	}
}

// Label names the route for logs and errors: its name, or its host and
// path when it has none.
func (r *Route) Label() string {
	if r.Name != "" {
		return r.Name
	}
	return r.Host + r.Path
}

// Config is the routes list, in the order written. Order does not decide
// matching (see Table.Dispatch); it only orders error messages.
type Config []Route

var hostLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// Validate checks every route and every pair of routes, and returns all
// problems at once as conftypes.FieldErrors under "[i]".
func (c Config) Validate() error {
	var errs []error
	names := map[string]int{}
	for i := range c {
		r := &c[i]
		at := fmt.Sprintf("[%d]", i)
		errs = append(errs, conftypes.Under(at, r.validate()))
		if r.Name == "" {
			continue
		}
		if j, dup := names[r.Name]; dup {
			errs = append(errs, &conftypes.FieldError{Path: at + ".name", Related: []string{fmt.Sprintf("[%d].name", j)},
				Err: fmt.Errorf("name %q is already used by routes[%d]", r.Name, j)})
		} else {
			names[r.Name] = i
		}
	}
	errs = append(errs, c.conflicts()...)
	return errors.Join(errs...)
}

func (r *Route) validate() error {
	var errs []error
	if err := validateHost(r.Host); err != nil {
		errs = append(errs, conftypes.Field("host", err))
	}
	errs = append(errs, CheckOrigins("origins", r.Origins))
	errs = append(errs, CheckNetworks(r.Allow, r.Deny))
	errs = append(errs, conftypes.Under("limits", r.Limits.validate()))
	switch r.Compression {
	case "", CompressionPassthrough, CompressionOff:
	default:
		errs = append(errs, conftypes.Field("compression", fmt.Errorf("unknown mode %q: want passthrough or off", r.Compression)))
	}
	if r.Auth != nil {
		errs = append(errs, conftypes.Under("auth", r.Auth.Validate()))
	}
	params, err := pathParams(r.Path)
	if err != nil {
		errs = append(errs, conftypes.Field("path", err))
	}
	if r.Handler == "tail" && params != nil && len(params) == 0 {
		errs = append(errs, conftypes.Field("path", errors.New("handler tail needs a parameter naming the file, such as /logs/*file")))
	}
	if err := r.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if params != nil {
		errs = append(errs, r.undefinedParams(params)...)
	}
	return errors.Join(errs...)
}

// undefinedParams reports the parameters the target uses that the path
// does not define, field by field in a stable order.
func (r *Route) undefinedParams(defined map[string]bool) []error {
	used := r.Config.Params()
	fields := make([]string, 0, len(used))
	for f := range used {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	var errs []error
	for _, field := range fields {
		for _, p := range used[field] {
			if defined[p] {
				continue
			}
			msg := fmt.Sprintf("{%s} is not a parameter of path %q", p, r.Path)
			if field == "hash_key" {
				msg = fmt.Sprintf("param:%s names no parameter of path %q", p, r.Path)
			}
			errs = append(errs, conftypes.Field(field, errors.New(msg)))
		}
	}
	return errs
}

// CheckOrigins checks an origins list, entry by entry under field.
func CheckOrigins(field string, entries []string) error {
	var errs []error
	for i, e := range entries {
		if err := origin.Check(e); err != nil {
			errs = append(errs, conftypes.Field(fmt.Sprintf("%s[%d]", field, i), err))
		}
	}
	return errors.Join(errs...)
}

// CheckNetworks checks an allow and a deny list of networks, entry by
// entry under "allow[i]" and "deny[i]".
func CheckNetworks(allow, deny []string) error {
	_, aerr := netset.Parse("allow", allow)
	_, derr := netset.Parse("deny", deny)
	return errors.Join(aerr, derr)
}

func validateHost(host string) error {
	if host == "" {
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	name = strings.TrimPrefix(name, "*.")
	if net.ParseIP(name) != nil && !strings.HasPrefix(host, "*.") {
		return nil
	}
	for _, label := range strings.Split(name, ".") {
		if !hostLabelRE.MatchString(label) {
			return fmt.Errorf("%q is not a host name: want example.com or *.example.com, without port or scheme", host)
		}
	}
	return nil
}

// pathParams checks an httprouter pattern on its own and returns its
// parameter names. Conflicts between routes are found by conflicts.
func pathParams(path string) (map[string]bool, error) {
	if path == "" {
		return nil, errors.New("required: a path such as /light/:status")
	}
	if err := tryInsert(httprouter.New(), path); err != nil {
		return nil, err
	}
	params := map[string]bool{}
	for seg := range strings.SplitSeq(path, "/") {
		if strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "*") {
			params[seg[1:]] = true
		}
	}
	return params, nil
}

// conflicts finds routes on the same host whose paths httprouter refuses to
// hold together, and names both routes of each conflict.
func (c Config) conflicts() []error {
	var errs []error
	byHost := map[string]*httprouter.Router{}
	for i := range c {
		r := &c[i]
		if _, err := pathParams(r.Path); err != nil {
			continue // already reported on its own
		}
		host := normalizeHost(r.Host)
		router := byHost[host]
		if router == nil {
			router = httprouter.New()
			byHost[host] = router
		}
		err := tryInsert(router, r.Path)
		if err == nil {
			continue
		}
		fe := &conftypes.FieldError{Path: fmt.Sprintf("[%d].path", i), Err: fmt.Errorf("path %q conflicts with another route: %w", r.Path, err)}
		if j, pairErr := c.firstConflict(i); j >= 0 {
			fe.Related = []string{fmt.Sprintf("[%d].path", j)}
			fe.Err = fmt.Errorf("path %q conflicts with routes[%d] %q (path %q): %w", r.Path, j, c[j].Label(), c[j].Path, pairErr)
		}
		errs = append(errs, fe)
	}
	return errs
}

// firstConflict returns the earliest route on i's host that cannot be held
// together with route i, and httprouter's complaint about the pair, or -1.
// httprouter's panic says what conflicts but not with which route, so each
// earlier route is tried alone with route i.
func (c Config) firstConflict(i int) (int, error) {
	host := normalizeHost(c[i].Host)
	for j := 0; j < i; j++ {
		if normalizeHost(c[j].Host) != host {
			continue
		}
		router := httprouter.New()
		if tryInsert(router, c[j].Path) != nil {
			continue
		}
		if err := tryInsert(router, c[i].Path); err != nil {
			return j, err
		}
	}
	return -1, nil
}

// tryInsert adds path to router and turns httprouter's panic on a bad or
// conflicting pattern into an error.
func tryInsert(router *httprouter.Router, path string) error {
	return insert(router, path, func(http.ResponseWriter, *http.Request, httprouter.Params) {})
}

func insert(router *httprouter.Router, path string, h httprouter.Handle) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	router.Handle(anyMethod, path, h)
	return nil
}
