package interop

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// startTornadoChat starts the tornado chat app (testdata/python/chat.py)
// and returns it with the route that serves its page and its socket
// under /tornado/.
func startTornadoChat(t *testing.T) (*peer, route) {
	t.Helper()
	p, addr := startPython(t, "tornado", "chat.py")
	return p, route{Name: "tornado-chat", Path: "/tornado/*rest", Backend: "ws://" + addr + "/{rest}"}
}

// TestTornadoPageAndSocketOneRoute checks the README's tornado-style app:
// one wsedge route carries both the chat page (plain HTTPS proxied to
// tornado) and its WebSocket, which tornado accepts only when Origin
// matches the Host wsedge passes through. Two Node ws clients then chat
// through it.
func TestTornadoPageAndSocketOneRoute(t *testing.T) {
	requireNode(t)
	requirePythonModule(t, "tornado")
	chat, r := startTornadoChat(t)
	e := startEdge(t, edgeOptions{}, r)

	t.Run("the page over https", func(t *testing.T) {
		resp, err := e.httpsClient().Get("https://" + e.HTTPSAddr + "/tornado/")
		if err != nil {
			t.Fatalf("GET the chat page: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "tornado chat through wsedge") {
			t.Errorf("GET /tornado/: got %d with %.80q, want 200 with the chat page", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type %q, want text/html", ct)
		}
	})

	t.Run("the socket on the same route, two clients chatting", func(t *testing.T) {
		plan := nodePlan{URL: e.wssURL("/tornado/chatsocket"), CA: e.CertFile, Origin: e.httpsOrigin()}
		alice, bob := dialNode(t, plan), dialNode(t, plan)
		alice.open(t)
		bob.open(t)
		// Both are members once tornado has logged two opens.
		chat.waitCount(t, "two opens at tornado", 2, is("open"))
		opened := chat.find(t, "tornado's open", is("open"))
		if opened.Host != e.HTTPSAddr || opened.Origin != e.httpsOrigin() || opened.Path != "/chatsocket" {
			t.Errorf("tornado saw Host %q, Origin %q, path %q; want %q, %q, /chatsocket", opened.Host, opened.Origin, opened.Path, e.HTTPSAddr, e.httpsOrigin())
		}
		alice.sendText(t, `{"body": "hello from alice"}`)
		for _, c := range []*nodeClient{alice, bob} {
			got := c.message(t)
			var m struct {
				ID   int    `json:"id"`
				Body string `json:"body"`
			}
			if err := json.Unmarshal([]byte(got.Text), &m); err != nil || m.Body != "hello from alice" || m.ID == 0 {
				t.Errorf("%s got %q, want the chat message {id, body: hello from alice}", c.name, got.Text)
			}
		}
	})
}
