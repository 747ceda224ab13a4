package interop

// COMPRESSION SCENARIOS (issue 11, permessage-deflate end to end, RFC
// 7692). They test wsedge's route option `compression: passthrough | off`
// (default passthrough): with passthrough, the client's offer reaches the
// backend, the backend's answer reaches the client, and compressed frames
// cross wsedge untouched. They are proved by the bytes on the wire: for a
// very compressible 1 MiB message, the client's TCP socket, the backend's
// (Node) and wsedge's own count (wsedge_bytes_total, frames as on the
// wire) must all be far below the payload. With off, no extension is
// negotiated and the full payload crosses.

import (
	"testing"
)

// compressibleSize is the payload of the compression scenarios: 1 MiB
// of payload("text"), which deflates to a few KiB.
const compressibleSize = 1 << 20

// wireLimit is the most bytes a compressed 1 MiB message may cost on the
// wire for the scenarios to count it as compressed: a tenth of the
// payload (deflate makes it about 1/200).
const wireLimit = compressibleSize / 10

// TestCompressionPassthrough: Node ws and Chromium clients with
// permessage-deflate, through wsedge's default route settings, to a Node
// ws server with it enabled and to a Python websockets server (on by
// default there). Compressed frames must cross wsedge both ways and every
// message arrive intact.
func TestCompressionPassthrough(t *testing.T) {
	requireNode(t)
	requirePythonModule(t, "websockets")
	nodeServer, nodeAddr := startNodeServer(t, nodeServerOptions{PerMessageDeflate: true})
	pyServer, pyAddr := startPython(t, "websockets", "echo.py")
	pageAddr := startPageServer(t)
	cert := newCert(t)
	e := startEdge(t, edgeOptions{Cert: cert},
		route{Name: "deflate-node", Path: "/deflate/node", Backend: "ws://" + nodeAddr + "/echo"},
		route{Name: "deflate-python", Path: "/deflate/python", Backend: "ws://" + pyAddr + "/echo"},
		route{Name: "deflate-chromium-node", Path: "/deflate/chromium/node", Backend: "ws://" + nodeAddr + "/echo"},
		route{Name: "deflate-chromium-python", Path: "/deflate/chromium/python", Backend: "ws://" + pyAddr + "/echo"},
		route{Name: "static", Path: "/static/*file", Backend: "ws://" + pageAddr + "/{file}"},
	)

	for _, backend := range []struct {
		name, path, route string
		server            *peer
	}{
		{"node ws client to node ws server", "/deflate/node", "deflate-node", nodeServer},
		{"node ws client to python websockets server", "/deflate/python", "deflate-python", pyServer},
	} {
		t.Run(backend.name, func(t *testing.T) {
			id := connID(t)
			// The plain listener: the client's socket then counts frames,
			// not TLS records.
			c := dialNode(t, nodePlan{URL: e.wsURL(backend.path + "?id=" + id), PerMessageDeflate: true})
			if got := c.open(t).Extensions; !hasExtension(got, "permessage-deflate") {
				t.Errorf("client negotiated extensions %q, want permessage-deflate (the offer must reach the backend and its answer the client)", got)
			}
			if got := backend.server.find(t, "open of "+id, isFor("open", id)).Extensions; !hasExtension(got, "permessage-deflate") {
				t.Errorf("backend negotiated extensions %q, want permessage-deflate", got)
			}
			c.expectEcho(t, "text", compressibleSize)
			c.expectEcho(t, "binary", 65536) // incompressible: still intact
			c.closeWith(t, 1000, "done")
			closed := c.closed(t)
			if closed.Code != 1000 {
				t.Errorf("close %d, want 1000", closed.Code)
			}
			// 1 MiB compressible + 64 KiB incompressible each way.
			limit := int64(wireLimit + 65536 + 4096)
			if closed.BytesWritten > limit || closed.BytesRead > limit {
				t.Errorf("client's socket wrote %d and read %d bytes for %d bytes of messages each way, want at most %d: compressed frames did not cross",
					closed.BytesWritten, closed.BytesRead, compressibleSize+65536, limit)
			}
			if backend.server == nodeServer {
				atServer := nodeServer.find(t, "close of "+id, isFor("close", id))
				if atServer.BytesRead > limit || atServer.BytesWritten > limit {
					t.Errorf("node server's socket read %d and wrote %d bytes, want at most %d: compressed frames did not cross",
						atServer.BytesRead, atServer.BytesWritten, limit)
				}
			}
			checkEdgeBytes(t, e, backend.route, limit)
		})
	}

	t.Run("chromium", func(t *testing.T) {
		b := startChromium(t, cert)
		p := openPage(t, b, e, "h2")
		for _, backend := range []struct{ name, path, route string }{
			{"to node ws server", "/deflate/chromium/node", "deflate-chromium-node"},
			{"to python websockets server", "/deflate/chromium/python", "deflate-chromium-python"},
		} {
			t.Run(backend.name, func(t *testing.T) {
				name := connID(t)
				got := p.open(t, name, backend.path, nil, nil)
				if !hasExtension(got.Extensions, "permessage-deflate") {
					t.Errorf("chromium negotiated extensions %q, want permessage-deflate", got.Extensions)
				}
				p.expectEcho(t, name, "text", compressibleSize)
				p.expectEcho(t, name, "binary", 65536)
				checkEdgeBytes(t, e, backend.route, int64(wireLimit+65536+4096))
			})
		}
	})
}

// checkEdgeBytes checks wsedge's count of the bytes a route forwarded
// each way (wsedge_bytes_total: frames as on the wire): some, and at most
// limit.
func checkEdgeBytes(t *testing.T, e *edge, route string, limit int64) {
	t.Helper()
	for _, dir := range []string{"client_to_backend", "backend_to_client"} {
		got := int64(e.metric(t, "wsedge_bytes_total", "route", route, "direction", dir))
		if got == 0 || got > limit {
			t.Errorf("wsedge forwarded %d bytes %s on route %s, want between 1 and %d: compressed frames did not cross", got, dir, route, limit)
		}
	}
}

// TestCompressionOff: the same Node ws client and servers, offering and
// accepting permessage-deflate, on routes with `compression: off`:
// nothing is negotiated, and the whole payload crosses, intact.
func TestCompressionOff(t *testing.T) {
	requireNode(t)
	requirePythonModule(t, "websockets")
	nodeServer, nodeAddr := startNodeServer(t, nodeServerOptions{PerMessageDeflate: true})
	pyServer, pyAddr := startPython(t, "websockets", "echo.py")
	e := startEdge(t, edgeOptions{},
		route{Name: "plain-node", Path: "/plain/node", Backend: "ws://" + nodeAddr + "/echo", Compression: "off"},
		route{Name: "plain-python", Path: "/plain/python", Backend: "ws://" + pyAddr + "/echo", Compression: "off"},
	)
	for _, backend := range []struct {
		name, path, route string
		server            *peer
	}{
		{"node ws client to node ws server", "/plain/node", "plain-node", nodeServer},
		{"node ws client to python websockets server", "/plain/python", "plain-python", pyServer},
	} {
		t.Run(backend.name, func(t *testing.T) {
			id := connID(t)
			c := dialNode(t, nodePlan{URL: e.wsURL(backend.path + "?id=" + id), PerMessageDeflate: true})
			if got := c.open(t).Extensions; got != "" {
				t.Errorf("client negotiated extensions %q on a compression: off route, want none", got)
			}
			if got := backend.server.find(t, "open of "+id, isFor("open", id)).Extensions; got != "" {
				t.Errorf("backend negotiated extensions %q on a compression: off route, want none", got)
			}
			c.expectEcho(t, "text", compressibleSize)
			c.closeWith(t, 1000, "done")
			if closed := c.closed(t); closed.BytesWritten < compressibleSize || closed.BytesRead < compressibleSize {
				t.Errorf("client's socket wrote %d and read %d bytes, want at least the %d-byte payload each way (uncompressed)",
					closed.BytesWritten, closed.BytesRead, compressibleSize)
			}
			for _, dir := range []string{"client_to_backend", "backend_to_client"} {
				if got := e.metric(t, "wsedge_bytes_total", "route", backend.route, "direction", dir); got < compressibleSize {
					t.Errorf("wsedge forwarded %v bytes %s, want at least the %d-byte payload", got, dir, compressibleSize)
				}
			}
		})
	}
}
