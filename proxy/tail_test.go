package proxy

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/wstest"
	"github.com/wsedge/wsedge/routes"
	"github.com/wsedge/wsedge/upstream"
)

// tailFixture is a log directory behind a tail route, with a file outside
// it that must never be reachable.
type tailFixture struct {
	tp   *testProxy
	root string
	log  string // root/app.log
}

func newTailFixture(t *testing.T, lines int) *tailFixture {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "logs")
	for _, d := range []string{root, filepath.Join(root, "sub"), filepath.Join(base, "outside")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(base, "outside", "secret.log"), "secret\n")
	writeFile(t, filepath.Join(root, "sub", "inner.log"), "inner line\n")
	// Symlinks: one that stays inside root, two that leave it.
	symlink(t, "sub/inner.log", filepath.Join(root, "inside-link.log"))
	symlink(t, "../outside/secret.log", filepath.Join(root, "escape.log"))
	symlink(t, filepath.Join(base, "outside", "secret.log"), filepath.Join(root, "absolute.log"))

	var history strings.Builder
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&history, "line %d\n", i)
	}
	f := &tailFixture{root: root, log: filepath.Join(root, "app.log")}
	writeFile(t, f.log, history.String())
	route := routes.Route{Path: "/logs/*file", Config: upstream.Config{Handler: "tail", Root: root, Lines: &lines}}
	f.tp = startProxy(t, testConfig(route), false)
	return f
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, name, data string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

// expectLines reads text messages and checks they are want, in order.
func expectLines(t *testing.T, c *websocket.Conn, want ...string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	for _, w := range want {
		mt, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %q: %v", w, err)
		}
		if mt != websocket.TextMessage || string(data) != w {
			t.Fatalf("got type %d %q, want text %q", mt, data, w)
		}
	}
}

func TestTailSendsLastLinesThenFollows(t *testing.T) {
	f := newTailFixture(t, 5)
	c := f.tp.mustDial(t, "/logs/app.log")
	expectLines(t, c, "line 26", "line 27", "line 28", "line 29", "line 30")

	appendFile(t, f.log, "line 31\nline 32\r\npartial")
	expectLines(t, c, "line 31", "line 32")
	appendFile(t, f.log, " line, finished\n")
	expectLines(t, c, "partial line, finished")
}

func TestTailFollowsRotation(t *testing.T) {
	f := newTailFixture(t, 1)
	c := f.tp.mustDial(t, "/logs/app.log")
	expectLines(t, c, "line 30")

	// logrotate's default: rename, then the application writes a last
	// line to the old file and opens a new one.
	if err := os.Rename(f.log, f.log+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, f.log+".1", "last line of the old file\n")
	appendFile(t, f.log, "first line of the new file\n")
	expectLines(t, c, "last line of the old file", "first line of the new file")

	// copytruncate: the file is emptied in place and written again.
	appendFile(t, f.log, "before truncation\n")
	expectLines(t, c, "before truncation")
	if err := os.Truncate(f.log, 0); err != nil {
		t.Fatal(err)
	}
	// Shorter than what was read: only a tail that noticed the
	// truncation reads this from the start.
	appendFile(t, f.log, "after\n")
	expectLines(t, c, "after")
}

func TestTailRefusesPathsOutsideRoot(t *testing.T) {
	f := newTailFixture(t, 1)
	c := f.tp.mustDial(t, "/logs/inside-link.log") // a symlink that stays inside is fine
	expectLines(t, c, "inner line")

	for _, path := range []string{
		"/logs/../outside/secret.log",
		"/logs/..%2Foutside%2Fsecret.log",
		"/logs/%2e%2e/outside/secret.log",
		"/logs/sub/../../outside/secret.log",
		"/logs/escape.log",   // relative symlink leaving root
		"/logs/absolute.log", // absolute symlink
		"/logs/missing.log",  // does not exist
		"/logs/sub",          // a directory
		"/logs/",             // the root itself
	} {
		t.Run(path, func(t *testing.T) {
			_, resp, err := f.tp.dial(t, path, nil)
			if err == nil {
				t.Fatal("upgraded")
			}
			body, _ := io.ReadAll(resp.Body)
			// One answer for all: a client learns nothing about what
			// exists outside root.
			if resp.StatusCode != http.StatusNotFound || string(body) != "Not Found\n" {
				t.Errorf("got %d %q, want 404 \"Not Found\"", resp.StatusCode, body)
			}
		})
	}
}

func TestAllBackendsDownIs503(t *testing.T) {
	route := routes.Route{Path: "/ws", Config: upstream.Config{Backends: []string{"ws://" + wstest.ClosedAddr(t) + "/", "ws://" + wstest.ClosedAddr(t) + "/"}}}
	tp := startProxy(t, testConfig(route), false)
	_, resp, _ := tp.dial(t, "/ws", nil)
	if statusOf(resp) != http.StatusBadGateway {
		t.Errorf("first request: got %d, want 502 (both backends refused)", statusOf(resp))
	}
	_, resp, _ = tp.dial(t, "/ws", nil)
	if statusOf(resp) != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("with both marked down: got %d Retry-After %q, want 503 Retry-After 1", statusOf(resp), resp.Header.Get("Retry-After"))
	}
}

// TestTailRefusesCrossOriginBeforeOpening: a cross-site page's handshake
// to a tail route is refused with 403 before any file is looked up: the
// same answer whether the file exists or not, and no descriptor opened
// (200 refusals leave the process's descriptors as they were).
func TestTailRefusesCrossOriginBeforeOpening(t *testing.T) {
	fx := newTailFixture(t, 1)
	foreign := http.Header{"Origin": {"https://evil.example"}}
	for _, file := range []string{"app.log", "no-such.log"} {
		if _, resp, _ := fx.tp.dial(t, "/logs/"+file, foreign); resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin tail of %s: %v, want 403", file, resp)
		}
	}
	before := wstest.OpenFDs(t)
	for range 200 {
		_, resp, _ := fx.tp.dial(t, "/logs/app.log", foreign)
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-origin tail: %v, want 403", resp)
		}
	}
	// Client sockets of the refused requests close as their handshakes
	// end; wait for the count to settle back.
	wstest.Eventually(t, waitLimit, func() bool { return wstest.OpenFDs(t) <= before })
}
