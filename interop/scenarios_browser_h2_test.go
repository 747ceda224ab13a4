package interop

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/internal/wstest"
)

// manySockets is how many WebSockets TestChromiumManySockets opens from
// one page at once.
const manySockets = 20

// TestChromiumManySockets (issue 11, "must show"): a page loaded through
// wsedge over https opens 20 WebSockets at once to the Node ws echo
// server, echoes a message of its own on each, and closes socket i with
// code 4000+i and a reason of its own; every close must be clean in the
// browser and reach Node with its code and reason. With wsedge's default
// (listen.http2 on) the page comes over h2 and the 20 sockets are streams
// of that one TLS connection (RFC 8441): wsedge's "websocket opened"
// lines, which name each socket's client IP:port, must all name one port,
// the port of the connection the page itself came over. With
// listen.http2: false the same page comes over HTTP/1.1 and the 20
// sockets take 20 connections: 20 ports.
func TestChromiumManySockets(t *testing.T) {
	wstest.Chromium(t)
	requireNode(t)
	nodeServer, nodeAddr := startNodeServer(t, nodeServerOptions{})
	pageAddr := startPageServer(t)
	cert := newCert(t)
	b := startChromium(t, cert)
	for _, tc := range []struct {
		name  string
		o     edgeOptions
		proto string // the page's nextHopProtocol
		ports int    // distinct client ports among the sockets
	}{
		{"over one HTTP/2 connection", edgeOptions{Cert: cert}, "h2", 1},
		{"over HTTP/1.1 with listen.http2 false", edgeOptions{Cert: cert, HTTP1Only: true}, "http/1.1", manySockets},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEdge(t, tc.o,
				route{Name: "static", Path: "/static/*file", Backend: "ws://" + pageAddr + "/{file}"},
				route{Name: "node", Path: "/node/*rest", Backend: "ws://" + nodeAddr + "/{rest}"},
			)
			p := openPage(t, b, e, tc.proto)

			// Socket i is named (in the page) and identified (?id=, in
			// Node's events and wsedge's log) by ids[i].
			ids := make([]string, manySockets)
			var opens, sends, nexts, closes []string
			for i := range ids {
				ids[i] = fmt.Sprintf("%s-%02d", connID(t), i)
				opens = append(opens, jsCall("interop.open", ids[i], "/node/echo?id="+ids[i], nil, nil))
				sends = append(sends, jsCall("interop.sendText", ids[i], echoText(i, tc.proto)))
				nexts = append(nexts, jsCall("interop.next", ids[i]))
				closes = append(closes, jsCall("interop.close", ids[i], 4000+i, closeReason(i)))
			}

			evalAll[pageOpen](t, p.tab, opens)
			evalAll[bool](t, p.tab, sends)
			for i, got := range evalAll[pageMessage](t, p.tab, nexts) {
				if want := echoText(i, tc.proto); got.Kind != "text" || got.Text != want {
					t.Errorf("socket %d: got the %s %q, want the echo of its own text %q", i, got.Kind, got.Text, want)
				}
			}

			ports := socketPorts(t, e, ids)
			distinct := slices.Compact(slices.Sorted(slices.Values(ports)))
			t.Logf("the %d sockets' client ports: %v (%d distinct)", manySockets, ports, len(distinct))
			if len(distinct) != tc.ports {
				t.Errorf("the %d sockets came from %d client ports %v, want %d", manySockets, len(distinct), distinct, tc.ports)
			}
			if tc.proto == "h2" {
				if page := pagePort(t, e); len(distinct) != 1 || distinct[0] != page {
					t.Errorf("the sockets came from ports %v, want only the page's own connection's %s", distinct, page)
				}
			}

			for i, got := range evalAll[pageClose](t, p.tab, closes) {
				if got.Code != 4000+i || got.Reason != closeReason(i) || !got.WasClean {
					t.Errorf("socket %d: chromium got the answer %+v, want a clean %d %q", i, got, 4000+i, closeReason(i))
				}
			}
			for i, id := range ids {
				if got := nodeServer.find(t, "close of "+id, isFor("close", id)); got.Code != 4000+i || got.Reason != closeReason(i) {
					t.Errorf("socket %d: node server got close %d %q, want %d %q", i, got.Code, got.Reason, 4000+i, closeReason(i))
				}
			}
		})
	}
}

// echoText is the message socket i sends over proto.
func echoText(i int, proto string) string { return fmt.Sprintf("socket %d over %s", i, proto) }

// closeReason is the reason socket i closes with.
func closeReason(i int) string { return fmt.Sprintf("socket %d says bye", i) }

// evalAll evaluates calls (JavaScript expressions, jsCall's) in tab in
// one go, as the elements of one Promise.all: each has started before
// any has settled. It returns their values in order; a rejection fails
// the test.
func evalAll[T any](t *testing.T, tab context.Context, calls []string) []T {
	t.Helper()
	got := evalJS[[]T](t, tab, "Promise.all(["+strings.Join(calls, ", ")+"])")
	if len(got) != len(calls) {
		t.Fatalf("chromium: %d values of %d calls", len(got), len(calls))
	}
	return got
}

// socketPorts returns the client port of each socket of ids, from the
// "websocket opened" line wsedge logs for it (found by its query,
// id=...), waiting for the lines; a socket with no line or more than one
// fails the test.
func socketPorts(t *testing.T, e *edge, ids []string) []string {
	t.Helper()
	query := map[string]int{}
	for i, id := range ids {
		query["id="+id] = i
	}
	opened := e.waitRecords(t, "websocket opened", len(ids), func(r logRecord) bool {
		_, ours := query[r["query"]]
		return r["msg"] == "websocket opened" && ours
	})
	ports := make([]string, len(ids))
	for _, r := range opened {
		i := query[r["query"]]
		if ports[i] != "" {
			t.Fatalf("wsedge logged socket %s opened twice", ids[i])
		}
		ports[i] = clientPort(t, r)
	}
	return ports
}

// pagePort returns the client port of the request for the interop page,
// from wsedge's "http request" line.
func pagePort(t *testing.T, e *edge) string {
	t.Helper()
	lines := e.waitRecords(t, "the page's http request", 1, func(r logRecord) bool {
		return r["msg"] == "http request" && r["path"] == "/static/index.html"
	})
	if len(lines) != 1 {
		t.Fatalf("wsedge logged %d requests for the page, want 1", len(lines))
	}
	return clientPort(t, lines[0])
}

// clientPort is the port of a log record's client (IP:port).
func clientPort(t *testing.T, r logRecord) string {
	t.Helper()
	_, port, err := net.SplitHostPort(r["client"])
	if err != nil {
		t.Fatalf("wsedge logged client %q: %v", r["client"], err)
	}
	return port
}
