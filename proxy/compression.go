package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Compression through the relay (issue 11). On a route with compression:
// passthrough, the client's Sec-WebSocket-Extensions offer goes to the
// backend as it is, and the backend's answer back to the client, so the
// two peers negotiate permessage-deflate (RFC 7692) between themselves
// and wsedge relays their compressed frames untouched: it never inflates
// or deflates anything. The relay understands one extension: RSV1, the
// bit permessage-deflate marks a compressed message with, is the only
// reserved bit it lets through (see scanner.check), so the backend's
// answer may name permessage-deflate and nothing else.

// permessageDeflate is the extension wsedge can relay.
const permessageDeflate = "permessage-deflate"

var (
	// errBackendExtension: the backend accepted an extension the client
	// did not offer (RFC 6455 section 9.1 has the client fail such a
	// connection, so it never gets one), or answered with a malformed
	// list; the client gets 502.
	errBackendExtension = errors.New("backend accepted an extension the client did not offer")
	// errUnrelayableExtension: the backend accepted an extension other
	// than permessage-deflate, whose frames the relay would fail; 502.
	errUnrelayableExtension = errors.New("backend accepted an extension wsedge cannot relay (only permessage-deflate)")
)

// extensionOffer is the offer a client's handshake makes to the backend
// on rt: the client's Sec-WebSocket-Extensions, every line of it, or ""
// with compression off.
func extensionOffer(r *http.Request, rt *route) string {
	if !rt.Compresses() {
		return ""
	}
	return strings.Join(r.Header.Values("Sec-Websocket-Extensions"), ", ")
}

// checkBackendAnswer checks a backend's 101 against what was offered for
// the client: a subprotocol it offered (or none), and extensions it
// offered that the relay can carry. It reports whether permessage-deflate
// was negotiated.
func checkBackendAnswer(h http.Header, subprotocols []string, extensions string) (deflate bool, err error) {
	if chosen := h.Get("Sec-Websocket-Protocol"); chosen != "" && !slices.Contains(subprotocols, chosen) {
		// RFC 6455 section 4.1: the client must fail such a
		// connection; it never gets one.
		return false, fmt.Errorf("%w: %q", errBackendSubprotocol, chosen)
	}
	answer, ok := extensionNames(strings.Join(h.Values("Sec-Websocket-Extensions"), ","))
	if !ok {
		return false, fmt.Errorf("%w: malformed answer %q", errBackendExtension, h.Get("Sec-Websocket-Extensions"))
	}
	offered, _ := extensionNames(extensions) // the client's words, forwarded as they were
	for _, name := range answer {
		switch {
		case !slices.ContainsFunc(offered, func(o string) bool { return strings.EqualFold(o, name) }):
			return false, fmt.Errorf("%w: %q", errBackendExtension, name)
		case !strings.EqualFold(name, permessageDeflate):
			return false, fmt.Errorf("%w: %q", errUnrelayableExtension, name)
		case deflate:
			// RFC 7692 section 5: one permessage-deflate at most.
			return false, fmt.Errorf("%w: %q twice", errBackendExtension, name)
		}
		deflate = true
	}
	return deflate, nil
}

// extensionNames returns the names in a Sec-WebSocket-Extensions value
// (RFC 6455 section 9.1: a comma-separated list of a token, each with
// ";"-separated parameters whose values may be quoted strings). ok is
// false if an element does not start with a token or a quoted string is
// not closed; the names that could be read are returned all the same.
func extensionNames(v string) (names []string, ok bool) {
	elems, ok := splitOutsideQuotes(v)
	for _, elem := range elems {
		name, _, _ := strings.Cut(elem, ";")
		name = strings.TrimSpace(name)
		switch {
		case name == "" && strings.TrimSpace(elem) == "":
			// An empty element: lists may have them (RFC 9110 section 5.6.1).
		case !isToken(name):
			ok = false
		default:
			names = append(names, name)
		}
	}
	return names, ok
}

// splitOutsideQuotes splits a header list at the commas outside quoted strings
// (where a backslash escapes the next byte); closed is false if v ends
// inside a quoted string.
func splitOutsideQuotes(v string) (elems []string, closed bool) {
	start, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ',':
			elems = append(elems, v[start:i])
			start = i + 1
		}
	}
	return append(elems, v[start:]), !quoted
}
