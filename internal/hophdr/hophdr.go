// Package hophdr removes the hop-by-hop headers of an HTTP message: the
// proxy does it for what it passes between client and backend, and
// forward auth for its subrequest and the answer it relays. A leaf: it
// imports nothing of wsedge.
package hophdr

import (
	"net/http"
	"net/textproto"
	"strings"
)

// Names are the headers that describe one connection, not the message
// (RFC 9110 section 7.6.1), plus the obsolete Keep-Alive and
// Proxy-Connection that old clients still send, as net/http/httputil
// removes them. Proxy-Authorization and Proxy-Authenticate are the
// client's and a proxy's business with this hop only.
var Names = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// Remove deletes the hop-by-hop headers from h, and those its Connection
// header names (RFC 9110 section 7.6.1).
func Remove(h http.Header) {
	for _, field := range h["Connection"] {
		for name := range strings.SplitSeq(field, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range Names {
		delete(h, name)
	}
}
