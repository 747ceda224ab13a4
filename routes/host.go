package routes

import (
	"net"
	"strings"
)

// normalizeHost puts a configured or requested host in the form routes are
// keyed by: lower case, without port or trailing dot.
func normalizeHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimPrefix(strings.TrimSuffix(host, "]"), "[")
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// wildcardParent returns the domain a host's "*." wildcard would be keyed
// by: "a.example.com" → "example.com". A wildcard covers exactly one label,
// as in TLS certificates (RFC 6125 section 6.4.3).
func wildcardParent(host string) (string, bool) {
	_, parent, ok := strings.Cut(host, ".")
	return parent, ok && parent != ""
}
