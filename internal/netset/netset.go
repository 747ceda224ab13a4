// Package netset is a list of IP networks, as the configuration names
// them in allow, deny and trusted_proxies (issue 10): "10.0.0.0/8",
// "2001:db8::/32", or a single address ("192.0.2.7", "::1"). It is a
// leaf: the routes' configuration checks entries with it, and the proxy
// matches client addresses against it.
package netset

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// Set is a list of networks. The zero Set contains nothing.
type Set []netip.Prefix

// ParseEntry parses one entry: a CIDR prefix or a single address (a /32
// or /128). A prefix with host bits set ("10.1.2.3/8") is refused, since
// it usually hides a typo.
func ParseEntry(entry string) (netip.Prefix, error) {
	entry = strings.TrimSpace(entry)
	if !strings.Contains(entry, "/") {
		a, err := netip.ParseAddr(entry)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or a CIDR network such as 10.0.0.0/8", entry)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(entry)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR network such as 10.0.0.0/8 or 2001:db8::/32", entry)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set: did you mean %s?", entry, p.Masked())
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}

// Parse parses a list of entries; each bad entry is a conftypes.FieldError
// under field ("allow[2]").
func Parse(field string, entries []string) (Set, error) {
	s := make(Set, 0, len(entries))
	var errs []error
	for i, e := range entries {
		p, err := ParseEntry(e)
		if err != nil {
			errs = append(errs, conftypes.Field(fmt.Sprintf("%s[%d]", field, i), err))
			continue
		}
		s = append(s, p)
	}
	return s, errors.Join(errs...)
}

// Contains reports whether a is in one of the networks. An IPv4 address
// written as IPv6 (::ffff:192.0.2.7, as a dual-stack listener reports
// it) matches the IPv4 networks.
func (s Set) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
