package interop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wsedge/wsedge/internal/wstest"
)

// page wraps the interop page (testdata/browser) loaded in a tab.
type page struct {
	tab context.Context
}

// openPage loads the interop page through e over https in a new tab of b
// and checks that it is a secure context there (Chromium accepted the
// test's certificate) and that it came over wantProto ("h2" or
// "http/1.1"): the page's sockets then take the same way.
func openPage(t *testing.T, b *browser, e *edge, wantProto string) *page {
	t.Helper()
	tab := b.tab(t)
	if status := navigate(t, tab, "https://"+e.HTTPSAddr+"/static/index.html"); status != 200 {
		t.Fatalf("the interop page answered %d through wsedge, want 200", status)
	}
	if ok := evalJS[bool](t, tab, `window.isSecureContext && location.protocol === "https:" && typeof interop === "object"`); !ok {
		t.Fatalf("the interop page is not a secure https page with its script")
	}
	if got := evalJS[string](t, tab, `performance.getEntriesByType("navigation")[0].nextHopProtocol`); got != wantProto {
		t.Errorf("the page came over %q, want %q", got, wantProto)
	}
	return &page{tab: tab}
}

func (p *page) open(t *testing.T, name, path string, protocols []string, replies map[string]string) pageOpen {
	t.Helper()
	return evalJS[pageOpen](t, p.tab, jsCall("interop.open", name, path, protocols, replies))
}

func (p *page) sendPayload(t *testing.T, name, kind string, size int) {
	t.Helper()
	evalJS[bool](t, p.tab, jsCall("interop.sendPayload", name, kind, size))
}

func (p *page) sendText(t *testing.T, name, text string) {
	t.Helper()
	evalJS[bool](t, p.tab, jsCall("interop.sendText", name, text))
}

func (p *page) next(t *testing.T, name string) pageMessage {
	t.Helper()
	return evalJS[pageMessage](t, p.tab, jsCall("interop.next", name))
}

func (p *page) close(t *testing.T, name string, code int, reason string) pageClose {
	t.Helper()
	return evalJS[pageClose](t, p.tab, jsCall("interop.close", name, code, reason))
}

func (p *page) closed(t *testing.T, name string) pageClose {
	t.Helper()
	return evalJS[pageClose](t, p.tab, jsCall("interop.closed", name))
}

// expectEcho sends payload(kind, size) on socket name and checks that
// the next message is exactly it.
func (p *page) expectEcho(t *testing.T, name, kind string, size int) {
	t.Helper()
	p.sendPayload(t, name, kind, size)
	got := p.next(t, name)
	if got.Kind != kind || got.Size != size || got.SHA256 != payloadSHA256(kind, size) {
		t.Errorf("echo in chromium: got %s of %d bytes, sha256 %.16s; want %s of %d bytes, sha256 %.16s",
			got.Kind, got.Size, got.SHA256, kind, size, payloadSHA256(kind, size))
	}
}

// TestChromium loads a page through wsedge over https, with a certificate
// the test made and told Chromium to trust, and opens wss:// sockets from
// it to each backend: Node ws and Python websockets echo servers, the
// light and log servers, the tornado chat app (its own page too), and
// wsedge's built-in broadcast room across two tabs. It does so twice:
// with wsedge's default, where Chromium opens its sockets as HTTP/2
// streams (RFC 8441), and with listen.http2: false, over HTTP/1.1.
func TestChromium(t *testing.T) {
	wstest.Chromium(t)
	requireNode(t)
	requirePythonModule(t, "websockets")
	requirePythonModule(t, "tornado")
	var bk chromiumBackends
	bk.node, bk.nodeAddr = startNodeServer(t, nodeServerOptions{})
	_, bk.pyAddr = startPython(t, "websockets", "echo.py")
	_, bk.lightAddr = startPython(t, "websockets", "light.py", "--token", "abc")
	bk.logRoot = t.TempDir()
	bk.logs, bk.logAddr = startPython(t, "websockets", "logtail.py", "--root", bk.logRoot, "--heartbeat", "0.3")
	bk.chat, bk.chatRoute = startTornadoChat(t)
	bk.pageAddr = startPageServer(t)
	cert := newCert(t)
	b := startChromium(t, cert)
	t.Run("over HTTP/2", func(t *testing.T) {
		chromiumScenarios(t, b, &bk, edgeOptions{Cert: cert}, "h2")
	})
	t.Run("over HTTP/1.1", func(t *testing.T) {
		chromiumScenarios(t, b, &bk, edgeOptions{Cert: cert, HTTP1Only: true}, "http/1.1")
	})
}

// chromiumBackends are the servers TestChromium's pages reach.
type chromiumBackends struct {
	node, logs, chat                     *peer
	nodeAddr, pyAddr, lightAddr, logAddr string
	pageAddr, logRoot                    string
	chatRoute                            route
}

// chromiumScenarios starts a wsedge as o says in front of bk and runs the
// browser scenarios through it, the page coming over proto.
func chromiumScenarios(t *testing.T, b *browser, bk *chromiumBackends, o edgeOptions, proto string) {
	nodeServer, logServer, chat := bk.node, bk.logs, bk.chat
	// A log file and a chat message of this run's own.
	logName := strings.NewReplacer("/", "", ".", "").Replace(proto) + ".log"
	logFile := filepath.Join(bk.logRoot, logName)
	if err := os.WriteFile(logFile, []byte("first\nsecond\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	chatText := "hello from chromium over " + proto
	e := startEdge(t, o,
		route{Name: "static", Path: "/static/*file", Backend: "ws://" + bk.pageAddr + "/{file}"},
		route{Name: "node", Path: "/node/*rest", Backend: "ws://" + bk.nodeAddr + "/{rest}"},
		route{Name: "python-echo", Path: "/python/echo", Backend: "ws://" + bk.pyAddr + "/echo"},
		route{Name: "light", Path: "/light/:status", Backend: "ws://" + bk.lightAddr + "/light/{status}"},
		route{Name: "logs", Path: "/logs/*file", Backend: "ws://" + bk.logAddr + "/{file}"},
		route{Name: "room", Path: "/room/:room", Handler: "broadcast"},
		bk.chatRoute,
	)
	p := openPage(t, b, e, proto)

	for _, backend := range []struct{ name, path string }{
		{"node ws server", "/node/echo"},
		{"python websockets server", "/python/echo"},
	} {
		t.Run("echo via "+backend.name, func(t *testing.T) {
			name := connID(t)
			if got := p.open(t, name, backend.path, nil, nil); got.Protocol != "" {
				t.Errorf("subprotocol %q without an offer", got.Protocol)
			}
			for _, kind := range []string{"text", "binary"} {
				for _, size := range echoSizes {
					t.Run(kind+"/"+sizeName(size), func(t *testing.T) {
						p.expectEcho(t, name, kind, size)
					})
				}
			}
			if got := p.close(t, name, 1000, "done"); got.Code != 1000 || !got.WasClean {
				t.Errorf("close: got %+v, want a clean 1000", got)
			}
		})
	}

	t.Run("subprotocol: node ws server picks the second offered", func(t *testing.T) {
		id := connID(t)
		offer := []string{"chat.v1", "chat.v2", "chat.v3"}
		if got := p.open(t, id, "/node/echo?id="+id, offer, nil); got.Protocol != "chat.v2" {
			t.Errorf("chromium got subprotocol %q, want chat.v2", got.Protocol)
		}
		if seen := nodeServer.find(t, "open of "+id, isFor("open", id)); strings.Join(seen.Offered, ",") != strings.Join(offer, ",") {
			t.Errorf("server was offered %q, want %q", seen.Offered, offer)
		}
		if got := p.close(t, id, 1000, ""); got.Code != 1000 || !got.WasClean {
			t.Errorf("close: got %+v, want a clean 1000", got)
		}
	})

	t.Run("close: the browser closes with 4001 and a reason", func(t *testing.T) {
		id := connID(t)
		p.open(t, id, "/node/echo?id="+id, nil, nil)
		if got := p.close(t, id, 4001, "tab says bye"); got.Code != 4001 || got.Reason != "tab says bye" || !got.WasClean {
			t.Errorf("chromium got the answer %+v, want a clean 4001 %q", got, "tab says bye")
		}
		if got := nodeServer.find(t, "close of "+id, isFor("close", id)); got.Code != 4001 || got.Reason != "tab says bye" {
			t.Errorf("server got close %d %q, want 4001 %q", got.Code, got.Reason, "tab says bye")
		}
	})

	t.Run("close: the server closes with 4002 and a reason", func(t *testing.T) {
		id := connID(t)
		p.open(t, id, "/node/echo?id="+id, nil, nil)
		p.sendText(t, id, "!close 4002 server says bye")
		if got := p.closed(t, id); got.Code != 4002 || got.Reason != "server says bye" || !got.WasClean {
			t.Errorf("chromium got close %+v, want a clean 4002 %q", got, "server says bye")
		}
	})

	t.Run("light server", func(t *testing.T) {
		p.open(t, "light", "/light/on?token=abc", nil, nil)
		if got := p.next(t, "light"); got.Text != "light is on" {
			t.Errorf("got %q, want %q", got.Text, "light is on")
		}
		if got := p.close(t, "light", 1000, "bye"); got.Code != 1000 || !got.WasClean {
			t.Errorf("close: got %+v, want a clean 1000", got)
		}
	})

	t.Run("log tail with its ping heartbeat", func(t *testing.T) {
		p.open(t, "logs", "/logs/"+logName+"?tail=1", nil, map[string]string{"ping": "pong"})
		if got := p.next(t, "logs"); got.Text != "first\nsecond\n" {
			t.Errorf("first message %q, want the log's lines", got.Text)
		}
		f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("third\n")
		f.Close()
		for got := p.next(t, "logs"); got.Text != "third\n"; got = p.next(t, "logs") {
			if got.Text != "ping" {
				t.Fatalf("got %q, want the appended line (or pings)", got.Text)
			}
		}
		pongs := logServer.countNow(is("pong"))
		logServer.waitCount(t, "a pong from chromium", pongs+1, is("pong"))
		if got := p.close(t, "logs", 1000, ""); got.Code != 1000 || !got.WasClean {
			t.Errorf("close: got %+v, want a clean 1000", got)
		}
	})

	t.Run("tornado chat page and socket on one route", func(t *testing.T) {
		tab := b.tab(t)
		if status := navigate(t, tab, "https://"+e.HTTPSAddr+"/tornado/"); status != 200 {
			t.Fatalf("the chat page answered %d, want 200", status)
		}
		waitJS(t, tab, "the chat page's socket opens", `document.getElementById("state").textContent === "open"`)
		ctx, cancel := context.WithTimeout(tab, waitLimit)
		defer cancel()
		if err := chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.ID("body"), chatText),
			chromedp.Click(chromedp.ID("send")),
		); err != nil {
			t.Fatalf("type into the chat page: %v", err)
		}
		waitJS(t, tab, "the message comes back to the page",
			`Array.from(document.querySelectorAll("#messages li")).some(li => li.textContent === `+jsCall("String", chatText)+`)`)
		chat.find(t, "the message at tornado", func(ev event) bool { return ev.Event == "message" && ev.Text == chatText })
	})

	t.Run("broadcast across two tabs", func(t *testing.T) {
		a, bTab := p, openPage(t, b, e, proto)
		a.open(t, "room", "/room/lobby", nil, nil)
		bTab.open(t, "room", "/room/lobby", nil, nil)
		// Tab A hears tab B: both are members of the room.
		bTab.sendText(t, "room", "tab B is here")
		if got := a.next(t, "room"); got.Text != "tab B is here" {
			t.Fatalf("tab A got %q, want tab B's hello", got.Text)
		}
		if got := bTab.next(t, "room"); got.Text != "tab B is here" {
			t.Errorf("tab B got %q, want its own hello back (the sender is a member)", got.Text)
		}
		for i := range 3 {
			msg := fmt.Sprintf("message %d from tab A", i)
			a.sendText(t, "room", msg)
			if got := bTab.next(t, "room"); got.Text != msg {
				t.Errorf("tab B got %q, want %q", got.Text, msg)
			}
			if got := a.next(t, "room"); got.Text != msg {
				t.Errorf("tab A got %q, want its own %q", got.Text, msg)
			}
		}
		for _, tab := range []*page{a, bTab} {
			if got := tab.close(t, "room", 1000, ""); got.Code != 1000 || !got.WasClean {
				t.Errorf("close: got %+v, want a clean 1000", got)
			}
		}
	})
}
