package forwardauth

import (
	"net/http"
	"strings"

	"github.com/wsedge/wsedge/internal/hophdr"
)

// notForwarded are the client's headers that stay out of the subrequest
// besides the hop-by-hop ones: the framing of a body the subrequest does
// not have, the handshake's nonce and offers, which are for the backend
// (RFC 6455 section 4.1), and what the client claims about earlier hops,
// which the proxy has already judged and states itself in
// X-Forwarded-For: an auth server must be able to believe what it reads
// there.
var notForwarded = []string{
	"Content-Length", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Extensions", "Forwarded", "X-Real-Ip",
}

// subrequestHeader is the header of the subrequest for the client's
// request r: r's end-to-end headers, and X-Forwarded-* describing r.
func subrequestHeader(r *http.Request, client Client) http.Header {
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	hophdr.Remove(h)
	for _, name := range notForwarded {
		h.Del(name)
	}
	for name := range h {
		if strings.HasPrefix(name, "X-Forwarded-") {
			delete(h, name)
		}
	}
	// Without a User-Agent of the client's, net/http would send its own;
	// an empty one sends none (as httputil.ReverseProxy does).
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""}
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	h.Set("X-Forwarded-Method", r.Method)
	h.Set("X-Forwarded-Uri", uri)
	h.Set("X-Forwarded-Host", r.Host)
	if client.Proto != "" {
		h.Set("X-Forwarded-Proto", client.Proto)
	}
	if client.IP != "" {
		h.Set("X-Forwarded-For", client.IP)
	}
	return h
}

// relayedHeader is the header of a refusal as the client is to get it:
// the answer's end-to-end headers, without Content-Length, which the
// proxy sets for the body it relays (possibly cut).
func relayedHeader(answer http.Header) http.Header {
	h := answer.Clone()
	if h == nil {
		h = http.Header{}
	}
	hophdr.Remove(h)
	h.Del("Content-Length")
	return h
}
