package proxy

import (
	"net/http"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/hophdr"
)

// perHopWebSocket are not copied between the legs as headers: the key and
// accept value are per handshake, and the version is the handshake's own.
// The subprotocols and extensions offered are passed to the backend dial
// explicitly (extensions only on routes with compression: passthrough),
// and the backend's choices returned to the client explicitly, once
// checked (checkBackendAnswer).
var perHopWebSocket = []string{
	"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions",
	"Sec-Websocket-Protocol", "Sec-Websocket-Accept",
}

// forwardedHeaders say who the client is; only wsedge, or a trusted
// proxy before it, may set them (see setForwarded).
var forwardedHeaders = []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "X-Real-Ip"}

// backendRequestHeader builds the header for the backend handshake: the
// client's end-to-end headers (cookies, Authorization, Origin, ...), the
// client's Host, and X-Forwarded-For/Proto/Host and X-Real-IP (see
// setForwarded).
func backendRequestHeader(r *http.Request) http.Header {
	h := r.Header.Clone()
	hophdr.Remove(h)
	for _, k := range perHopWebSocket {
		delete(h, k)
	}
	delete(h, ":protocol") // an HTTP/2 client's extended CONNECT (RFC 8441)
	setForwarded(h, r)
	// Backends such as tornado compare Origin with Host: keep the Host the
	// client used, as Caddy and Traefik do by default.
	h["Host"] = []string{r.Host}
	return h
}

// upgradeResponseHeader picks what the client's 101 response repeats from
// the backend's: end-to-end headers such as Set-Cookie, the chosen
// subprotocol and the accepted extensions.
func upgradeResponseHeader(backend http.Header) http.Header {
	h := backend.Clone()
	hophdr.Remove(h)
	for _, k := range perHopWebSocket {
		delete(h, k)
	}
	delete(h, "Content-Length")
	delete(h, "Date")
	if p := backend.Get("Sec-Websocket-Protocol"); p != "" {
		h["Sec-Websocket-Protocol"] = []string{p}
	}
	if e := backend.Values("Sec-Websocket-Extensions"); len(e) > 0 {
		h["Sec-Websocket-Extensions"] = []string{strings.Join(e, ", ")}
	}
	return h
}

func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// checkClientHandshake refuses a malformed WebSocket handshake before any
// backend is dialled, with the status RFC 6455 section 4.2.2 asks for.
func checkClientHandshake(r *http.Request) error {
	switch {
	case isExtendedConnect(r):
		// RFC 8441 section 5: no key and no Upgrade over HTTP/2; the
		// version and the offers are as over HTTP/1.1.
		if r.Header.Get("Sec-Websocket-Version") != "13" {
			return &refusal{http.StatusUpgradeRequired, "bad handshake: Sec-WebSocket-Version must be 13"}
		}
	case !r.ProtoAtLeast(1, 1):
		return &refusal{http.StatusBadRequest, "bad handshake: a WebSocket handshake needs HTTP/1.1 or newer (RFC 6455 section 4.1)"}
	case r.Method != http.MethodGet:
		return &refusal{http.StatusMethodNotAllowed, "bad handshake: method must be GET"}
	case r.Header.Get("Sec-Websocket-Version") != "13":
		return &refusal{http.StatusUpgradeRequired, "bad handshake: Sec-WebSocket-Version must be 13"}
	case !validChallengeKey(r.Header.Get("Sec-Websocket-Key")):
		return &refusal{http.StatusBadRequest, "bad handshake: Sec-WebSocket-Key must be 16 bytes in base64"}
	}
	for _, p := range websocket.Subprotocols(r) {
		if !isToken(p) {
			return &refusal{http.StatusBadRequest, "bad handshake: Sec-WebSocket-Protocol values must be tokens (RFC 6455 section 4.1)"}
		}
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2), as
// a subprotocol name must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// validChallengeKey reports whether key is 16 bytes in base64 (24
// characters with "==" padding), RFC 6455 section 4.1.
func validChallengeKey(key string) bool {
	if len(key) != 24 || !strings.HasSuffix(key, "==") {
		return false
	}
	for _, c := range key[:22] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
