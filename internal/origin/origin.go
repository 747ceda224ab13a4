// Package origin is the Origin policy of wsedge's routes (issue 10): which
// pages may open a WebSocket to a route (RFC 6455 section 10.2, the
// defence against cross-site WebSocket hijacking). It is a leaf: the
// routes' configuration checks entries with it, and the proxy enforces it
// before a backend is dialled or a built-in opens anything.
package origin

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// The keywords a policy entry may be, besides an origin.
const (
	// Any admits every page, and clients that send no Origin.
	Any = "any"
	// SameHost admits pages of the scheme, host and port the request
	// itself was made to (an https page for a wss:// request), and
	// clients that send no Origin (not browsers).
	SameHost = "same-host"
)

// Policy says which Origins are admitted. The zero Policy admits nothing
// but clients without an Origin; build one with Parse.
type Policy struct {
	any, sameHost bool
	exact         map[string]bool // "https://app.example.com[:port]"
	wildcard      []wildcard      // "https://*.example.com[:port]"
}

type wildcard struct{ scheme, suffix, port string } // suffix ".example.com"

// Check reports what is wrong with one policy entry, or nil.
func Check(entry string) error {
	_, err := (&Policy{}).add(entry)
	return err
}

// Parse builds the policy of a list of entries: "any", "same-host",
// origins ("https://app.example.com", with a port if not the default) and
// wildcard subdomains ("https://*.example.com": one label or more below
// the domain, not the domain itself).
func Parse(entries []string) (Policy, error) {
	p := Policy{exact: map[string]bool{}}
	var errs []error
	for _, e := range entries {
		if _, err := p.add(e); err != nil {
			errs = append(errs, err)
		}
	}
	return p, errors.Join(errs...)
}

func (p *Policy) add(entry string) (*Policy, error) {
	switch entry {
	case Any:
		p.any = true
		return p, nil
	case SameHost:
		p.sameHost = true
		return p, nil
	}
	u, err := url.Parse(entry)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return p, fmt.Errorf("%q: want any, same-host, or an origin such as https://app.example.com or https://*.example.com", entry)
	}
	host, port := u.Hostname(), u.Port()
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		if rest == "" || strings.Contains(rest, "*") {
			return p, fmt.Errorf("%q: a wildcard is one leading *. before a domain", entry)
		}
		p.wildcard = append(p.wildcard, wildcard{scheme: u.Scheme, suffix: "." + strings.ToLower(rest), port: port})
		return p, nil
	}
	if strings.Contains(host, "*") {
		return p, fmt.Errorf("%q: a wildcard is one leading *. before a domain", entry)
	}
	if p.exact == nil {
		p.exact = map[string]bool{}
	}
	p.exact[normalize(u.Scheme, host, port)] = true
	return p, nil
}

// Allows reports whether r's Origin is admitted. A request without an
// Origin header is admitted: it does not come from a browser page, and
// what this policy guards against is other sites' pages.
func (p *Policy) Allows(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || p.any {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if p.sameHost && sameHost(r, scheme, host, port) {
		return true
	}
	if p.exact[normalize(scheme, host, port)] {
		return true
	}
	for _, w := range p.wildcard {
		if scheme == w.scheme && defaultPort(scheme, port) == defaultPort(w.scheme, w.port) &&
			strings.HasSuffix(host, w.suffix) && len(host) > len(w.suffix) {
			return true
		}
	}
	return false
}

// sameHost compares an Origin with the request: the page's scheme must be
// the request's (https with TLS), and its host and port the request's.
func sameHost(r *http.Request, scheme, host, port string) bool {
	want := "http"
	if r.TLS != nil {
		want = "https"
	}
	if scheme != want {
		return false
	}
	rhost, rport, err := net.SplitHostPort(r.Host)
	if err != nil {
		rhost, rport = r.Host, ""
	}
	return strings.EqualFold(strings.Trim(rhost, "[]"), host) && defaultPort(want, rport) == defaultPort(scheme, port)
}

func normalize(scheme, host, port string) string {
	return strings.ToLower(scheme) + "://" + strings.ToLower(host) + ":" + defaultPort(scheme, port)
}

func defaultPort(scheme, port string) string {
	if port != "" {
		return port
	}
	if scheme == "https" {
		return "443"
	}
	return "80"
}
