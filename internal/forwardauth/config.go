// Package forwardauth is wsedge's forward authentication (issue 10), as
// nginx's auth_request, Traefik's ForwardAuth and Caddy's forward_auth do
// it: before a handshake is proxied, a GET carrying the client's headers
// goes to an auth server. A 2xx answer admits the client, and some of the
// answer's headers (the user's id, say) are copied onto the request the
// backend sees; any other answer is relayed to the client as it is (a 401
// with its WWW-Authenticate, a 302 to a login page). An auth server that
// cannot be asked admits nobody.
//
// It is a leaf: the configuration checks sections with it, and the proxy
// asks a Checker before it dials a backend.
package forwardauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// defaultTimeout bounds a check when the section does not say: an auth
// server on the same network answers in milliseconds, and a client waits
// for the answer before its handshake goes anywhere.
const defaultTimeout = 2 * time.Second

// Config is an auth section: the global `auth:` and a route's `auth:`.
// The zero Config is no section at all; it does not validate, so a parent
// validates only a section that is present.
type Config struct {
	// URL is the auth server's check endpoint, such as
	// http://127.0.0.1:9000/check: an absolute http or https URL with a
	// host, without userinfo (it would be sent nowhere, see RFC 9110
	// section 4.2.4) or fragment. Required unless Off.
	URL string `yaml:"url"`
	// CopyHeaders names the headers of a 2xx answer that are set on the
	// request to the backend, such as X-User-Id. A client's own values of
	// these headers are always removed, so a backend can believe them.
	// Hop-by-hop headers, Host, Content-Length and the Sec-WebSocket-*
	// headers are refused: the proxy owns the connection and the
	// handshake. Empty copies nothing.
	CopyHeaders []string `yaml:"copy_headers"`
	// Timeout bounds a whole check, connecting included; an auth server
	// slower than that is answered with 504. Zero means 2s.
	Timeout conftypes.Duration `yaml:"timeout"`
	// Off, on a route, opts it out of the global auth section; the other
	// fields must then be empty.
	Off bool `yaml:"off"`
}

// Enabled reports whether requests are to be checked: a URL is set and
// the section is not switched off.
func (c *Config) Enabled() bool { return c.URL != "" && !c.Off }

// timeout is the bound of one check, the default applied.
func (c *Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return defaultTimeout
	}
	return c.Timeout.D()
}

// Validate reports every problem of the section at once, as
// conftypes.FieldErrors with paths relative to the section ("url",
// "copy_headers[1]", "timeout"). It has no side effects.
func (c *Config) Validate() error {
	var errs []error
	if c.Off {
		const why = "must be empty when off is true: off opts a route out of the global auth"
		if c.URL != "" {
			errs = append(errs, conftypes.Field("url", errors.New(why)))
		}
		if len(c.CopyHeaders) > 0 {
			errs = append(errs, conftypes.Field("copy_headers", errors.New(why)))
		}
		if c.Timeout != 0 {
			errs = append(errs, conftypes.Field("timeout", errors.New(why)))
		}
		return errors.Join(errs...)
	}
	if c.URL == "" {
		errs = append(errs, conftypes.Field("url", errors.New("required: the auth server's URL, such as http://127.0.0.1:9000/check (or off: true)")))
	} else {
		errs = append(errs, conftypes.Field("url", checkURL(c.URL)))
	}
	for i, name := range c.CopyHeaders {
		errs = append(errs, conftypes.Field(fmt.Sprintf("copy_headers[%d]", i), checkCopyHeader(name)))
	}
	if c.Timeout < 0 {
		errs = append(errs, conftypes.Field("timeout", errors.New("must not be negative")))
	}
	return errors.Join(errs...)
}

// checkURL says what is wrong with the auth server's URL. It does not
// quote the URL: the loader already points at its line, and the URL may
// hold a secret.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", errors.Unwrap(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("want an absolute http:// or https:// URL, such as http://127.0.0.1:9000/check")
	case u.Hostname() == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("must not carry userinfo: put credentials where the auth server reads them, not in the URL")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not have a fragment: it is never sent to a server")
	}
	return nil
}

// refusedCopyHeaders may not be copied from an answer onto the backend
// request: the hop-by-hop headers (RFC 9110 section 7.6.1, and the
// obsolete ones net/http/httputil still removes), and those that describe
// the request's framing or target, which the proxy sets itself.
var refusedCopyHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Proxy-Authenticate": true, "Proxy-Authorization": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Host": true, "Content-Length": true,
}

func checkCopyHeader(name string) error {
	if !isToken(name) {
		return fmt.Errorf("%q is not a header name (RFC 9110 section 5.1: letters, digits and !#$%%&'*+-.^_`|~)", name)
	}
	canon := http.CanonicalHeaderKey(name)
	if refusedCopyHeaders[canon] {
		return fmt.Errorf("%s is hop-by-hop or framing, owned by the proxy: it cannot be copied", canon)
	}
	// The handshake's headers are negotiated between the client and the
	// backend (RFC 6455 section 4.1); one from the auth server would
	// break the negotiation.
	if strings.HasPrefix(canon, "Sec-Websocket-") {
		return fmt.Errorf("%s belongs to the WebSocket handshake: it cannot be copied", canon)
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token (section 5.6.2), what a
// field name is.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
