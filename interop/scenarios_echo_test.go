package interop

import (
	"testing"
)

// TestEcho sends text and binary messages of every size in echoSizes
// (0 B to 4 MiB, across each frame-length encoding) from a Node ws client
// through wsedge over wss:// to real echo servers, without compression,
// and checks that each comes back byte for byte with its type.
func TestEcho(t *testing.T) {
	e, _, _ := startEchoServers(t)
	for _, backend := range []struct{ name, path string }{
		{"node ws client to node ws server", "/node/echo"},
		{"node ws client to python websockets server", "/python/echo"},
	} {
		t.Run(backend.name, func(t *testing.T) {
			c := dialNode(t, nodePlan{URL: e.wssURL(backend.path), CA: e.CertFile})
			if ext := c.open(t).Extensions; ext != "" {
				t.Errorf("extensions negotiated without an offer: %q", ext)
			}
			for _, kind := range []string{"text", "binary"} {
				for _, size := range echoSizes {
					t.Run(kind+"/"+sizeName(size), func(t *testing.T) {
						c.expectEcho(t, kind, size)
					})
				}
			}
			c.closeWith(t, 1000, "done")
			if got := c.closed(t); got.Code != 1000 || got.Reason != "done" {
				t.Errorf("close: got %d %q, want 1000 %q", got.Code, got.Reason, "done")
			}
		})
	}
}
