package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogTail runs the README's log server (testdata/python/logtail.py,
// Python websockets, after the seed) behind the README's route,
// /logs/*file → ws://…/{file}: the last lines, then, with ?tail=1, the
// lines appended as they come and the text "ping" heartbeat, answered
// "pong" by the client, crossing wsedge as the data messages they are.
func TestLogTail(t *testing.T) {
	requireNode(t)
	requirePythonModule(t, "websockets")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(root, "app", "today.log")
	var lines []string
	for i := 1; i <= 15; i++ {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	if err := os.WriteFile(logFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	server, addr := startPython(t, "websockets", "logtail.py",
		"--root", root, "--lines", "10", "--heartbeat", "0.3", "--pong-timeout", "2")
	e := startEdge(t, edgeOptions{}, route{Name: "logs", Path: "/logs/*file", Backend: "ws://" + addr + "/{file}"})
	lastTen := strings.Join(lines[5:], "\n") + "\n"

	t.Run("last lines, then 1000 without tail", func(t *testing.T) {
		c := dialNode(t, nodePlan{URL: e.wssURL("/logs/app/today.log"), CA: e.CertFile})
		c.open(t)
		if got := c.message(t); got.Text != lastTen {
			t.Errorf("first message %q, want the last 10 lines %q", got.Text, lastTen)
		}
		if got := c.closed(t); got.Code != 1000 || got.Reason != "end of log" {
			t.Errorf("close %d %q, want 1000 %q", got.Code, got.Reason, "end of log")
		}
	})

	t.Run("tail=1 streams appended lines and the ping heartbeat", func(t *testing.T) {
		c := dialNode(t, nodePlan{URL: e.wssURL("/logs/app/today.log?tail=1"), CA: e.CertFile, Replies: map[string]string{"ping": "pong"}})
		c.open(t)
		opened := server.find(t, "open with tail", func(ev event) bool { return ev.Event == "open" && ev.Tail })
		if opened.Path != "/app/today.log" {
			t.Errorf("log server was asked for %q, want /app/today.log", opened.Path)
		}
		if got := c.message(t); got.Text != lastTen {
			t.Errorf("first message %q, want the last 10 lines %q", got.Text, lastTen)
		}
		f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("line 16\nline 17\n"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		var streamed strings.Builder
		pings := 0
		for !strings.Contains(streamed.String(), "line 17\n") {
			got := c.message(t)
			if got.Event != "message" {
				t.Fatalf("got %v while waiting for the appended lines", got)
			}
			if got.Text == "ping" {
				pings++
				continue
			}
			streamed.WriteString(got.Text)
		}
		if streamed.String() != "line 16\nline 17\n" {
			t.Errorf("streamed %q, want %q", streamed.String(), "line 16\nline 17\n")
		}
		// Two heartbeats answered: "ping" reached the client and "pong"
		// the server, twice.
		for pings < 2 {
			if got := c.message(t); got.Text == "ping" {
				pings++
			} else if got.Event != "message" {
				t.Fatalf("got %v while waiting for pings", got)
			}
		}
		server.waitCount(t, "two pongs at the log server", 2, is("pong"))
		c.closeWith(t, 1000, "enough")
		if got := server.find(t, "close with 1000", func(ev event) bool { return ev.Event == "close" && ev.Code == 1000 && ev.Reason == "enough" }); got.Code != 1000 {
			t.Errorf("log server got close %d, want 1000", got.Code)
		}
	})

	t.Run("an unanswered ping closes with 1011", func(t *testing.T) {
		c := dialNode(t, nodePlan{URL: e.wssURL("/logs/app/today.log?tail=1"), CA: e.CertFile})
		c.open(t)
		c.message(t) // the last lines
		for got := c.message(t); got.Text != "ping"; got = c.message(t) {
			if got.Event != "message" {
				t.Fatalf("got %v, want the ping heartbeat", got)
			}
		}
		if got := c.closed(t); got.Code != 1011 || got.Reason != "ping error" {
			t.Errorf("close %d %q, want 1011 %q from the log server", got.Code, got.Reason, "ping error")
		}
	})

	t.Run("a missing log is the server's 404", func(t *testing.T) {
		c := dialNode(t, nodePlan{URL: e.wssURL("/logs/app/nothing.log"), CA: e.CertFile})
		if got := c.refused(t); got.Status != 404 || got.Body != "no such log\n" {
			t.Errorf("got %d %q, want the log server's 404 %q", got.Status, got.Body, "no such log\n")
		}
	})
}

// TestLightServer runs the README's light server (testdata/python/light.py)
// behind its route, /light/:status → ws://…/light/{status}: the status
// and the client's query (?token=) reach the server.
func TestLightServer(t *testing.T) {
	requireNode(t)
	requirePythonModule(t, "websockets")
	server, addr := startPython(t, "websockets", "light.py", "--token", "abc")
	e := startEdge(t, edgeOptions{}, route{Name: "light", Path: "/light/:status", Backend: "ws://" + addr + "/light/{status}"})
	for _, status := range []string{"on", "off"} {
		t.Run(status, func(t *testing.T) {
			c := dialNode(t, nodePlan{URL: e.wssURL("/light/" + status + "?token=abc"), CA: e.CertFile})
			c.open(t)
			want := "light is " + status
			if got := c.message(t); got.Text != want {
				t.Errorf("got %q, want %q", got.Text, want)
			}
			c.sendText(t, "status?")
			if got := c.message(t); got.Text != want {
				t.Errorf("after asking: got %q, want %q", got.Text, want)
			}
			c.closeWith(t, 1000, "")
			if got := c.closed(t); got.Code != 1000 {
				t.Errorf("close %d, want 1000", got.Code)
			}
			server.find(t, "close at /light/"+status, func(ev event) bool {
				return ev.Event == "close" && ev.Path == "/light/"+status && ev.Code == 1000
			})
		})
	}
}
