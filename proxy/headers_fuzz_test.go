package proxy

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/internal/hophdr"
)

// FuzzBackendRequestHeader: whatever headers a client sends, what goes to
// the backend has no hop-by-hop header (nor any the client's Connection
// names), no WebSocket handshake header of the client's hop, and
// forwarding headers that are wsedge's alone.
func FuzzBackendRequestHeader(f *testing.F) {
	f.Add("Connection: Upgrade, X-Secret\r\nUpgrade: websocket\r\nX-Secret: 1\r\nX-Forwarded-For: 6.6.6.6\r\n")
	f.Add("X-Real-IP: 10.0.0.1\r\nForwarded: for=1.2.3.4\r\nSec-WebSocket-Extensions: permessage-deflate\r\n")
	f.Add("connection: keep-alive,\tte\r\nTE: trailers\r\nProxy-Authorization: x\r\nCookie: a=b\r\n")
	f.Fuzz(func(t *testing.T, headers string) {
		raw := "GET /ws HTTP/1.1\r\nHost: edge.test\r\n" + headers + "\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		r.RemoteAddr = "192.0.2.7:40000"
		h := backendRequestHeader(r)
		for _, k := range append(append([]string{}, hophdr.Names...), perHopWebSocket...) {
			if v, ok := h[http.CanonicalHeaderKey(k)]; ok {
				t.Fatalf("%s reached the backend: %q", k, v)
			}
		}
		for _, v := range r.Header.Values("Connection") {
			for name := range strings.SplitSeq(v, ",") {
				if name = strings.TrimSpace(name); name != "" && h.Get(name) != "" {
					t.Fatalf("%s, named in Connection, reached the backend", name)
				}
			}
		}
		for k, want := range map[string]string{"X-Forwarded-For": "192.0.2.7", "X-Real-Ip": "192.0.2.7", "X-Forwarded-Proto": "http", "X-Forwarded-Host": r.Host, "Host": r.Host} {
			if got := h.Values(k); len(got) != 1 || got[0] != want {
				t.Fatalf("%s: %q, want only %q", k, got, want)
			}
		}
		if v := h.Values("Forwarded"); len(v) > 0 {
			t.Fatalf("the client's Forwarded reached the backend: %q", v)
		}
	})
}
