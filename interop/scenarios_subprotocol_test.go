package interop

import (
	"slices"
	"testing"
)

// TestSubprotocol checks subprotocol negotiation through wsedge with
// Node ws and Python websockets servers that pick the second protocol
// offered: the server sees the client's whole offer in order, and the
// client gets the server's choice. Without an offer nobody gets one.
func TestSubprotocol(t *testing.T) {
	e, nodeServer, pyServer := startEchoServers(t)
	offer := []string{"chat.v1", "chat.v2", "chat.v3"}
	for _, backend := range []struct {
		name, path string
		server     *peer
	}{
		{"node ws server", "/node/echo", nodeServer},
		{"python websockets server", "/python/echo", pyServer},
	} {
		t.Run(backend.name+"/server picks the second offered", func(t *testing.T) {
			id := connID(t)
			c := dialNode(t, nodePlan{URL: e.wssURL(backend.path + "?id=" + id), CA: e.CertFile, Protocols: offer})
			if got := c.open(t).Protocol; got != "chat.v2" {
				t.Errorf("client got subprotocol %q, want %q (the second offered)", got, "chat.v2")
			}
			seen := backend.server.find(t, "open of "+id, isFor("open", id))
			if !slices.Equal(seen.Offered, offer) || seen.Protocol != "chat.v2" {
				t.Errorf("server was offered %q and chose %q, want %q and %q", seen.Offered, seen.Protocol, offer, "chat.v2")
			}
			c.expectEcho(t, "text", 125)
		})
		t.Run(backend.name+"/no offer, no subprotocol", func(t *testing.T) {
			id := connID(t)
			c := dialNode(t, nodePlan{URL: e.wssURL(backend.path + "?id=" + id), CA: e.CertFile})
			if got := c.open(t).Protocol; got != "" {
				t.Errorf("client got subprotocol %q without offering one", got)
			}
			if seen := backend.server.find(t, "open of "+id, isFor("open", id)); len(seen.Offered) != 0 {
				t.Errorf("server was offered %q, want nothing", seen.Offered)
			}
		})
	}
}
