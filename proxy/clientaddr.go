package proxy

import (
	"context"
	"net/http"
	"net/netip"
	"strings"

	"github.com/wsedge/wsedge/internal/netset"
)

// trustedPeerKey is the context key of a request that came from a
// trusted proxy (trusted_proxies); its value is that proxy's address.
type trustedPeerKey struct{}

// fromTrustedProxy returns r as the rest of the proxy is to see it. When
// r's peer is one of trusted, the client is who the peer says
// (X-Forwarded-For, else Forwarded, else X-Real-IP): r is copied with
// that address as RemoteAddr (an address without a port: the port is not
// reported), and the peer's address is kept in the context for the
// X-Forwarded-For wsedge passes on. Otherwise r is returned unchanged,
// and what it claims about earlier hops is never believed (issue 10).
func fromTrustedProxy(r *http.Request, trusted netset.Set) *http.Request {
	if len(trusted) == 0 {
		return r
	}
	peer, ok := parseHostAddr(r.RemoteAddr)
	if !ok || !trusted.Contains(peer) {
		return r
	}
	r2 := r.WithContext(context.WithValue(r.Context(), trustedPeerKey{}, peer))
	if client, ok := reportedClient(r.Header, trusted); ok {
		r2.RemoteAddr = client.String()
	}
	return r2
}

// trustedPeer returns the address of the trusted proxy r came through.
func trustedPeer(r *http.Request) (netip.Addr, bool) {
	a, ok := r.Context().Value(trustedPeerKey{}).(netip.Addr)
	return a, ok
}

// reportedClient is the client address a trusted proxy reports: walking
// the hops from the nearest, the first that is not itself a trusted proxy
// (so a client cannot pass itself off as another by sending its own
// X-Forwarded-For: the nearest trusted proxy appended the address it saw).
// An entry that is not an address ("unknown", an obfuscated Forwarded
// node, garbage) ends the walk with nothing believed.
func reportedClient(h http.Header, trusted netset.Set) (netip.Addr, bool) {
	var hops []string
	switch {
	case len(h["X-Forwarded-For"]) > 0:
		hops = splitList(h["X-Forwarded-For"])
	case len(h["Forwarded"]) > 0:
		hops = forwardedFor(h["Forwarded"])
	case h.Get("X-Real-Ip") != "":
		hops = []string{h.Get("X-Real-Ip")}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHostAddr(hops[i])
		if !ok {
			return netip.Addr{}, false
		}
		if i == 0 || !trusted.Contains(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// splitList splits comma-separated header values, in order.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for e := range strings.SplitSeq(v, ",") {
			out = append(out, strings.TrimSpace(e))
		}
	}
	return out
}

// forwardedFor returns the for= node of each element of Forwarded
// headers (RFC 7239 section 4), in order.
func forwardedFor(values []string) []string {
	var out []string
	for _, elem := range splitList(values) {
		node := ""
		for pair := range strings.SplitSeq(elem, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
			if strings.EqualFold(k, "for") {
				node = strings.Trim(v, `"`)
			}
		}
		out = append(out, node)
	}
	return out
}

// parseHostAddr parses "192.0.2.7", "192.0.2.7:4711", "2001:db8::1" or
// "[2001:db8::1]:4711"; an IPv4 address in IPv6 form is unmapped.
func parseHostAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// clientAddr is the client's address (see fromTrustedProxy); the zero
// Addr for a peer without one (a Unix socket).
func clientAddr(r *http.Request) netip.Addr {
	a, _ := parseHostAddr(r.RemoteAddr)
	return a
}

// clientIP is clientAddr as text, "" when there is none.
func clientIP(r *http.Request) string {
	if a := clientAddr(r); a.IsValid() {
		return a.String()
	}
	return ""
}

// setForwarded writes into out, the header of a request to a backend,
// what wsedge says about the client: X-Real-IP, and X-Forwarded-For,
// -Proto and -Host. From a trusted proxy the client's X-Forwarded-For is
// appended to (with the proxy's address, as each hop adds the one it
// received from), and its X-Forwarded-Proto, -Host and Forwarded are
// kept; from anyone else they are replaced, and Forwarded is removed.
func setForwarded(out http.Header, r *http.Request) {
	for _, k := range forwardedHeaders {
		delete(out, k)
	}
	client := clientIP(r)
	if client != "" {
		out["X-Real-Ip"] = []string{client}
	}
	peer, trusted := trustedPeer(r)
	if !trusted {
		if client != "" {
			out["X-Forwarded-For"] = []string{client}
		}
		out["X-Forwarded-Proto"] = []string{schemeOf(r)}
		out["X-Forwarded-Host"] = []string{r.Host}
		return
	}
	xff := peer.String()
	if prior := strings.Join(r.Header["X-Forwarded-For"], ", "); prior != "" {
		xff = prior + ", " + xff
	}
	out["X-Forwarded-For"] = []string{xff}
	out["X-Forwarded-Proto"] = []string{firstOr(r.Header.Get("X-Forwarded-Proto"), schemeOf(r))}
	out["X-Forwarded-Host"] = []string{firstOr(r.Header.Get("X-Forwarded-Host"), r.Host)}
	if f := r.Header["Forwarded"]; len(f) > 0 {
		out["Forwarded"] = f
	}
}

// firstOr is v, or def when v is empty.
func firstOr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// ipRules are the client networks a route admits (allow, deny).
type ipRules struct{ allow, deny netset.Set }

// admits reports whether a client at a may use the route: not in deny,
// and in allow when allow is set.
func (p ipRules) admits(a netip.Addr) bool {
	if p.deny.Contains(a) {
		return false
	}
	return len(p.allow) == 0 || p.allow.Contains(a)
}
