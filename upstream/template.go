package upstream

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/julienschmidt/httprouter"
)

// URLTemplate is a backend URL whose path may contain {name} placeholders,
// filled from the route's parameters for each request.
//
// Placeholders are allowed only in the path: a parameter can never choose
// the scheme, host or port a request goes to.
//
// A Unix socket backend is written ws+unix:///run/app.sock:/path/{x} (or
// wss+unix://): the socket's file name, a colon, then the path.
type URLTemplate struct {
	raw    string
	scheme string // "ws" or "wss"
	host   string // host[:port] as written; "localhost" for a socket
	socket string // the Unix socket's file name, or ""
	parts  []templatePart
	query  string // the template's own query, without "?"
	params []string
}

type templatePart struct {
	literal string // path text copied as written
	param   string // or the name of the parameter substituted here
}

var placeholderRE = regexp.MustCompile(`\{([^{}]*)\}`)
var paramNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseURLTemplate parses a backend URL such as
// ws://127.0.0.1:8765/light/{status}.
func ParseURLTemplate(s string) (*URLTemplate, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil, fmt.Errorf("%q is not a URL: want ws://host:port/path", s)
	}
	if strings.Contains(rest, "#") {
		return nil, fmt.Errorf("%q: a backend URL cannot have a fragment", s)
	}
	t := &URLTemplate{raw: s}
	var host, pathQuery string
	switch scheme {
	case "ws", "wss":
		host, pathQuery = rest, "/"
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			host, pathQuery = rest[:i], rest[i:]
		} else if i := strings.IndexByte(rest, '?'); i >= 0 {
			host, pathQuery = rest[:i], "/"+rest[i:]
		}
		if host == "" || strings.ContainsAny(host, "{}@") {
			return nil, fmt.Errorf("%q: want a plain host[:port] (no user info, no placeholders)", s)
		}
	case "ws+unix", "wss+unix":
		scheme = strings.TrimSuffix(scheme, "+unix")
		socket, p, _ := strings.Cut(rest, ":/")
		if !strings.HasPrefix(socket, "/") || strings.ContainsAny(socket, "{}") {
			return nil, fmt.Errorf("%q: want ws+unix:///absolute/file.sock:/path", s)
		}
		t.socket, host, pathQuery = socket, "localhost", "/"+p
	default:
		return nil, fmt.Errorf("scheme %q in %q: a backend must be ws://, wss://, ws+unix:// or wss+unix://", scheme, s)
	}
	path, query, _ := strings.Cut(pathQuery, "?")
	if strings.ContainsAny(query, "{}") {
		return nil, fmt.Errorf("%q: placeholders are allowed only in the path", s)
	}
	t.scheme, t.host, t.query = scheme, host, query
	if err := t.parsePath(path); err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	// The literal parts must already be valid URL text: check the URL
	// with every placeholder replaced by a harmless value.
	probe := placeholderRE.ReplaceAllString(scheme+"://"+host+pathQuery, "x")
	pu, err := url.Parse(probe)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	if pu.Host != host || !validBackendHost(host) {
		return nil, fmt.Errorf("%q: %q is not a host[:port]", s, host)
	}
	if hasDotSegment(placeholderRE.ReplaceAllString(path, "x")) {
		return nil, fmt.Errorf("%q: the path has a . or .. segment", s)
	}
	return t, nil
}

// backendHostRE is a host name or IPv4 address in a backend URL.
var backendHostRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$`)

// validBackendHost reports whether host is a name, an IPv4 address or a
// bracketed IPv6 address, with an optional port from 1 to 65535.
func validBackendHost(host string) bool {
	name := host
	if h, p, err := net.SplitHostPort(host); err == nil {
		name = h
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return false
		}
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		name = host[1 : len(host)-1]
	}
	if ip := net.ParseIP(name); ip != nil {
		// An IPv6 address must come in brackets.
		return ip.To4() != nil || strings.HasPrefix(host, "[")
	}
	return backendHostRE.MatchString(name)
}

func (t *URLTemplate) parsePath(path string) error {
	last := 0
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(path, -1) {
		name := path[m[2]:m[3]]
		if !paramNameRE.MatchString(name) {
			return fmt.Errorf("placeholder {%s}: want a name of letters, digits and _", name)
		}
		if m[0] > last {
			t.parts = append(t.parts, templatePart{literal: path[last:m[0]]})
		}
		t.parts = append(t.parts, templatePart{param: name})
		t.params = append(t.params, name)
		last = m[1]
	}
	if strings.ContainsAny(path[last:], "{}") {
		return fmt.Errorf("unbalanced { or } in the path")
	}
	if last < len(path) {
		t.parts = append(t.parts, templatePart{literal: path[last:]})
	}
	return nil
}

// Params lists the placeholder names in the template, in order.
func (t *URLTemplate) Params() []string { return t.params }

// Socket returns the Unix socket's file name, or "" for a TCP backend.
func (t *URLTemplate) Socket() string { return t.socket }

// Secure reports whether the backend is reached over TLS (wss://).
func (t *URLTemplate) Secure() bool { return t.scheme == "wss" }

// String returns the template as it was written.
func (t *URLTemplate) String() string { return t.raw }

// Expand fills the template for one request and returns the backend URL
// with scheme ws/wss, or http/https when forHTTP is set (plain requests on
// a backend route go to the same place over HTTP).
//
// Each parameter value is the decoded path text the route matched. It is
// percent-encoded segment by segment (url.PathEscape), so "?", "#", "%" and
// a "/" hidden in a value become data, never URL structure. For a catch-all
// (*name) the value is the rest of the path without its leading slash, and
// its own slashes stay separators. A "." or ".." segment anywhere in the
// result is refused with ErrBadParam: backends resolve them, and a route
// must never reach above its template's path.
//
// rawQuery, the client's query string, is appended after the template's
// own query; a "#" in it (which a request target cannot hold, but a raw
// client can send) is data, escaped, never the start of a fragment.
func (t *URLTemplate) Expand(params httprouter.Params, rawQuery string, forHTTP bool) (string, error) {
	rawQuery = strings.ReplaceAll(rawQuery, "#", "%23")
	var b strings.Builder
	scheme := t.scheme
	if forHTTP {
		scheme = map[string]string{"ws": "http", "wss": "https"}[scheme]
	}
	b.Grow(len(scheme) + 3 + len(t.host) + 64 + len(rawQuery))
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(t.host)
	pathStart := b.Len()
	for _, p := range t.parts {
		if p.param == "" {
			b.WriteString(p.literal)
			continue
		}
		writeEscapedParam(&b, params.ByName(p.param))
	}
	if b.Len() == pathStart {
		b.WriteByte('/')
	}
	if hasDotSegment(b.String()[pathStart:]) {
		return "", ErrBadParam
	}
	switch {
	case t.query != "" && rawQuery != "":
		b.WriteString("?" + t.query + "&" + rawQuery)
	case t.query != "":
		b.WriteString("?" + t.query)
	case rawQuery != "":
		b.WriteString("?" + rawQuery)
	}
	return b.String(), nil
}

// writeEscapedParam writes value with each "/"-separated segment escaped.
// httprouter hands catch-all values over with their leading slash; the
// template supplies its own separators, so that slash is dropped.
func writeEscapedParam(b *strings.Builder, value string) {
	value = strings.TrimPrefix(value, "/")
	for i, seg := range strings.Split(value, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(seg))
	}
}

// hasDotSegment reports whether an escaped path has a "." or ".." segment,
// written plainly or percent-encoded (%2e), which a backend would resolve.
func hasDotSegment(path string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		if len(seg) > 6 {
			continue
		}
		s := strings.ReplaceAll(strings.ToLower(seg), "%2e", ".")
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}
