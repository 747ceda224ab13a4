package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// nodeDir holds the Node peers and their package.json, whose ws version
// is pinned (with package-lock.json); `npm ci` installs it, and .ci/run
// runs that. The tests do not install anything themselves.
const nodeDir = "testdata/node"

var nodeCheck struct {
	once      sync.Once
	node      string
	wsVersion string
	problem   string
}

// requireNode returns the node binary, or ends the test through
// missingPeer when node or the pinned ws module is missing.
func requireNode(t *testing.T) string {
	t.Helper()
	nodeCheck.once.Do(func() {
		node, err := exec.LookPath("node")
		if err != nil {
			nodeCheck.problem = "node is not installed (apt-get install nodejs npm), needed for the Node ws peers"
			return
		}
		var pkg struct {
			Dependencies map[string]string `json:"dependencies"`
		}
		if err := readJSON(filepath.Join(nodeDir, "package.json"), &pkg); err != nil {
			nodeCheck.problem = err.Error()
			return
		}
		pinned := pkg.Dependencies["ws"]
		var installed struct {
			Version string `json:"version"`
		}
		if err := readJSON(filepath.Join(nodeDir, "node_modules", "ws", "package.json"), &installed); err != nil {
			nodeCheck.problem = fmt.Sprintf("the Node ws module is not installed: run `npm ci --prefix interop/testdata/node` (.ci/run does) (%v)", err)
			return
		}
		if installed.Version != pinned {
			nodeCheck.problem = fmt.Sprintf("interop/testdata/node/node_modules has ws %s, package.json pins %s: run `npm ci --prefix interop/testdata/node`", installed.Version, pinned)
			return
		}
		nodeCheck.node, nodeCheck.wsVersion = node, installed.Version
	})
	if nodeCheck.problem != "" {
		missingPeer(t, nodeCheck.problem)
	}
	return nodeCheck.node
}

// readJSON decodes the JSON file name into v.
func readJSON(name string, v any) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// nodeServerOptions configure testdata/node/server.js.
type nodeServerOptions struct {
	// PerMessageDeflate makes the server accept permessage-deflate when
	// a client offers it; off, it never negotiates an extension.
	PerMessageDeflate bool `json:"perMessageDeflate"`
}

// startNodeServer starts testdata/node/server.js (echo on /echo...,
// a 403 on /forbidden) and waits until it listens; addr is its
// host:port.
func startNodeServer(t *testing.T, o nodeServerOptions) (p *peer, addr string) {
	t.Helper()
	node := requireNode(t)
	opts, _ := json.Marshal(o)
	p = startPeer(t, "node ws server", node, filepath.Join(nodeDir, "server.js"), string(opts))
	return p, p.waitReady(t)
}

// nodePlan is what testdata/node/client.js connects with.
type nodePlan struct {
	URL       string   `json:"url"`
	Protocols []string `json:"protocols,omitempty"`
	// PerMessageDeflate offers permessage-deflate (ws's default for
	// clients is to offer it; the plan says so explicitly).
	PerMessageDeflate bool              `json:"perMessageDeflate"`
	CA                string            `json:"ca,omitempty"`     // PEM file to trust for wss
	Origin            string            `json:"origin,omitempty"` // sent as Origin
	Replies           map[string]string `json:"replies,omitempty"`
}

// nodeClient is one connection of testdata/node/client.js, driven over
// its stdin.
type nodeClient struct {
	*peer
}

// dialNode starts a Node ws client that connects to plan.URL at once.
// Its events are then read with open, message and closed.
func dialNode(t *testing.T, plan nodePlan) *nodeClient {
	t.Helper()
	node := requireNode(t)
	b, _ := json.Marshal(plan)
	return &nodeClient{startPeer(t, "node ws client", node, filepath.Join(nodeDir, "client.js"), string(b))}
}

// open waits for the handshake to succeed and returns the open event
// (subprotocol and extensions chosen); a refused handshake fails the
// test with what the client saw.
func (c *nodeClient) open(t *testing.T) event {
	t.Helper()
	e := c.next(t, "open", func(e event) bool {
		return e.Event == "open" || e.Event == "unexpected-response" || e.Event == "close" || e.Event == "error"
	})
	if e.Event != "open" {
		t.Fatalf("node ws client did not connect: %v", e)
	}
	return e
}

// refused waits for the handshake to be answered with something other
// than 101 and returns that answer (status and body).
func (c *nodeClient) refused(t *testing.T) event {
	t.Helper()
	e := c.next(t, "unexpected-response", func(e event) bool {
		return e.Event == "open" || e.Event == "unexpected-response" || e.Event == "close"
	})
	if e.Event != "unexpected-response" {
		t.Fatalf("node ws client: got %v, want the handshake refused", e)
	}
	return e
}

// message waits for the next message the client received.
func (c *nodeClient) message(t *testing.T) event {
	t.Helper()
	return c.next(t, "message", func(e event) bool { return e.Event == "message" || e.Event == "close" })
}

// closed waits for the connection's close event.
func (c *nodeClient) closed(t *testing.T) event {
	t.Helper()
	return c.next(t, "close", is("close"))
}

// sendPayload sends the generated payload of kind and size (payload.go).
func (c *nodeClient) sendPayload(t *testing.T, kind string, size int) {
	t.Helper()
	c.send(t, map[string]any{"cmd": "send", "kind": kind, "size": size})
}

// sendText sends text as a text message.
func (c *nodeClient) sendText(t *testing.T, text string) {
	t.Helper()
	c.send(t, map[string]any{"cmd": "send", "kind": "text", "data": text})
}

// closeWith starts the closing handshake with code and reason.
func (c *nodeClient) closeWith(t *testing.T, code int, reason string) {
	t.Helper()
	c.send(t, map[string]any{"cmd": "close", "code": code, "reason": reason})
}

// expectEcho sends payload(kind, size) and checks that the next message
// is exactly it.
func (c *nodeClient) expectEcho(t *testing.T, kind string, size int) {
	t.Helper()
	c.sendPayload(t, kind, size)
	got := c.message(t)
	checkPayload(t, got, kind, size)
}

// checkPayload checks that a message event is payload(kind, size).
func checkPayload(t *testing.T, got event, kind string, size int) {
	t.Helper()
	if got.Event != "message" {
		t.Fatalf("got %v, want the echo of %s %s", got, kind, sizeName(size))
	}
	if got.Kind != kind || got.Size != size || got.SHA256 != payloadSHA256(kind, size) {
		t.Errorf("echo: got %s of %d bytes, sha256 %.16s; want %s of %d bytes, sha256 %.16s",
			got.Kind, got.Size, got.SHA256, kind, size, payloadSHA256(kind, size))
	}
}

// hasExtension reports whether an extensions header value names ext.
func hasExtension(header, ext string) bool {
	for _, part := range strings.Split(header, ",") {
		name, _, _ := strings.Cut(part, ";")
		if strings.TrimSpace(name) == ext {
			return true
		}
	}
	return false
}
