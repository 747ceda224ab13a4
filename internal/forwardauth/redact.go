package forwardauth

import (
	"net/url"
	"strings"
)

// redacted replaces a secret query value.
const redacted = "REDACTED"

// RedactURI returns uri (a request-target such as /ws?room=1&token=abc,
// or a whole URL) for a log line: the values of the query parameters
// token and access_token (names compared case-insensitively and
// percent-decoded, as a server reads them; RFC 6750 section 2.3 puts
// bearer tokens in access_token) become REDACTED. Everything else is
// kept byte for byte, in its order, and malformed input is never an
// error.
//
// It errs towards hiding: ';' separates parameters as well as '&' (some
// servers split on it), and a '#' does not end a value, since in a
// request-target it cannot start a fragment and the server may read it
// as part of the token.
func RedactURI(uri string) string {
	path, query, ok := strings.Cut(uri, "?")
	if !ok || query == "" {
		return uri
	}
	var b strings.Builder
	changed := false
	for query != "" {
		param, rest := query, ""
		sep := ""
		if i := strings.IndexAny(query, "&;"); i >= 0 {
			param, sep, rest = query[:i], query[i:i+1], query[i+1:]
		}
		if name, _, hasValue := strings.Cut(param, "="); hasValue && secretParam(name) {
			param = name + "=" + redacted
			changed = true
		}
		b.WriteString(param)
		b.WriteString(sep)
		query = rest
	}
	if !changed {
		return uri
	}
	return path + "?" + b.String()
}

// secretParam reports whether a query parameter's raw name is one whose
// value is a credential.
func secretParam(name string) bool {
	if decoded, err := url.QueryUnescape(name); err == nil {
		name = decoded
	}
	return strings.EqualFold(name, "token") || strings.EqualFold(name, "access_token")
}
