package interop

import (
	"fmt"
	"strings"
	"testing"
)

// closeCases are the close codes and reasons sent each way: the normal
// code, application codes at both ends of the 4000-4999 range, and a
// reason of 123 bytes, the most a close frame carries (RFC 6455 section
// 5.5: 125 bytes of payload, 2 of them the code).
var closeCases = []struct {
	code   int
	reason string
}{
	{1000, "done"},
	{4000, "application says bye"},
	{4999, strings.Repeat("é", 61) + "z"}, // 123 bytes of UTF-8
}

// TestCloseCodes checks that close codes and reasons cross wsedge
// unchanged both ways, between a Node ws client and Node ws and Python
// websockets servers: a close the client starts reaches the server with
// its code and reason (and the server's answer reaches the client), and
// a close the server starts reaches the client.
func TestCloseCodes(t *testing.T) {
	e, nodeServer, pyServer := startEchoServers(t)
	for _, backend := range []struct {
		name, path string
		server     *peer
	}{
		{"node ws server", "/node/echo", nodeServer},
		{"python websockets server", "/python/echo", pyServer},
	} {
		for _, cc := range closeCases {
			t.Run(fmt.Sprintf("%s/client closes with %d", backend.name, cc.code), func(t *testing.T) {
				id := connID(t)
				c := dialNode(t, nodePlan{URL: e.wssURL(backend.path + "?id=" + id), CA: e.CertFile})
				c.open(t)
				c.closeWith(t, cc.code, cc.reason)
				atServer := backend.server.find(t, "close of "+id, isFor("close", id))
				if atServer.Code != cc.code || atServer.Reason != cc.reason {
					t.Errorf("server got close %d %q, want %d %q", atServer.Code, atServer.Reason, cc.code, cc.reason)
				}
				// Both servers answer a close with the code and reason
				// they got.
				if atClient := c.closed(t); atClient.Code != cc.code || atClient.Reason != cc.reason {
					t.Errorf("client got the answer %d %q, want %d %q", atClient.Code, atClient.Reason, cc.code, cc.reason)
				}
			})
			t.Run(fmt.Sprintf("%s/server closes with %d", backend.name, cc.code), func(t *testing.T) {
				id := connID(t)
				c := dialNode(t, nodePlan{URL: e.wssURL(backend.path + "?id=" + id), CA: e.CertFile})
				c.open(t)
				c.sendText(t, fmt.Sprintf("!close %d %s", cc.code, cc.reason))
				if atClient := c.closed(t); atClient.Code != cc.code || atClient.Reason != cc.reason {
					t.Errorf("client got close %d %q, want %d %q", atClient.Code, atClient.Reason, cc.code, cc.reason)
				}
				// ws answers a close with its code: the server sees its
				// own code come back.
				if atServer := backend.server.find(t, "close of "+id, isFor("close", id)); atServer.Code != cc.code {
					t.Errorf("server got the answer %d %q, want code %d", atServer.Code, atServer.Reason, cc.code)
				}
			})
		}
	}
}
