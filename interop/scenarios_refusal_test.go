package interop

import (
	"testing"
)

// TestBackendRefusalRelayed checks that a backend that refuses a
// handshake is answered to the client as it answered: status and body,
// from Node ws, Python websockets and tornado.
func TestBackendRefusalRelayed(t *testing.T) {
	requireNode(t)
	requirePythonModule(t, "websockets")
	requirePythonModule(t, "tornado")
	_, nodeAddr := startNodeServer(t, nodeServerOptions{})
	_, lightAddr := startPython(t, "websockets", "light.py", "--token", "abc")
	_, chatRoute := startTornadoChat(t)
	e := startEdge(t, edgeOptions{},
		route{Name: "node", Path: "/node/*rest", Backend: "ws://" + nodeAddr + "/{rest}"},
		route{Name: "light", Path: "/light/:status", Backend: "ws://" + lightAddr + "/light/{status}"},
		chatRoute,
	)
	for _, tc := range []struct {
		name, path, origin string
		status             int
		body               string
	}{
		{"node ws server answers 403", "/node/forbidden", "", 403, "forbidden by the node backend"},
		{"python websockets server answers 403 to a bad token", "/light/on?token=wrong", "", 403, "forbidden: bad token\n"},
		{"python websockets server answers 404 to an unknown status", "/light/dim?token=abc", "", 404, "no such light status\n"},
		{"tornado answers 403 to a foreign Origin", "/tornado/chatsocket", "https://elsewhere.example", 403, "Cross origin websockets not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialNode(t, nodePlan{URL: e.wssURL(tc.path), CA: e.CertFile, Origin: tc.origin})
			if got := c.refused(t); got.Status != tc.status || got.Body != tc.body {
				t.Errorf("got %d %q, want the backend's %d %q", got.Status, got.Body, tc.status, tc.body)
			}
		})
	}
}
