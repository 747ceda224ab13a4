package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/wstest"
)

// waitLimit bounds every wait of the suite: a peer starting, a message
// arriving, a close. It is generous because CI runs the other packages'
// tests, under -race, on the same two cores.
const waitLimit = 30 * time.Second

// event is one line a peer printed on stdout: every peer program in
// testdata prints JSON objects with these fields (each only what it
// knows), one a line.
type event struct {
	Event        string   `json:"event"` // ready, open, message, sent, close, pong, unexpected-response, error
	Port         int      `json:"port"`  // ready: where the server listens
	Version      string   `json:"version"`
	ID           string   `json:"id"` // ?id= of the connection, to tell subtests apart
	Path         string   `json:"path"`
	Offered      []string `json:"offered"`    // subprotocols the client offered
	Protocol     string   `json:"protocol"`   // the subprotocol chosen
	Extensions   string   `json:"extensions"` // the extensions negotiated
	Origin       string   `json:"origin"`
	Host         string   `json:"host"`
	Tail         bool     `json:"tail"`  // log tail: ?tail=1 was asked
	Light        string   `json:"light"` // light server: the status asked for
	Kind         string   `json:"kind"`  // message: text or binary
	Size         int      `json:"size"`
	SHA256       string   `json:"sha256"`
	Text         string   `json:"text"` // message: the text, when short
	Code         int      `json:"code"` // close
	Reason       string   `json:"reason"`
	Status       int      `json:"status"` // unexpected-response: the HTTP status
	Body         string   `json:"body"`
	Message      string   `json:"message"`      // error
	BytesRead    int64    `json:"bytesRead"`    // close: bytes the peer's TCP socket read
	BytesWritten int64    `json:"bytesWritten"` // and wrote, handshake included
}

func (e event) String() string {
	b, _ := json.Marshal(e)
	s := string(b)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// peer is a peer program started by a test: its events as they come,
// its stderr, and the process, which is killed and waited for when the
// test ends.
type peer struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *wstest.LogBuffer
	done   chan struct{} // closed once stdout has ended and the process is reaped

	mu      sync.Mutex
	events  []event
	other   []string      // stdout lines that were not events
	changed chan struct{} // closed (and replaced) whenever events grows
	cursor  int           // next() reads from here
}

// startPeer starts bin with args in its own process group, reading JSON
// events from its stdout. At the end of t it kills the group and waits
// for the process; if t failed, it logs the peer's stderr.
func startPeer(t *testing.T, name, bin string, args ...string) *peer {
	t.Helper()
	p := &peer{name: name, stderr: &wstest.LogBuffer{}, done: make(chan struct{}), changed: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = childProcAttr()
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go p.readEvents(stdout)
	t.Cleanup(func() {
		p.stdin.Close()
		// The whole group: a peer that started children takes them along.
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(waitLimit):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", name, p.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.stderr)
		}
	})
	return p
}

// readEvents parses stdout until it ends, then reaps the process.
func (p *peer) readEvents(stdout io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		var e event
		line := sc.Text()
		err := json.Unmarshal([]byte(line), &e)
		p.mu.Lock()
		if err != nil || e.Event == "" {
			p.other = append(p.other, line)
		} else {
			p.events = append(p.events, e)
			close(p.changed)
			p.changed = make(chan struct{})
		}
		p.mu.Unlock()
	}
	io.Copy(io.Discard, stdout)
	p.cmd.Wait()
}

// waitFor waits until an event at or after index from satisfies match,
// and returns it with its index. It fails the test if none comes within
// waitLimit, or if the peer exits first. Call it on the test's goroutine;
// match is called with the peer locked.
func (p *peer) waitFor(t *testing.T, what string, from int, match func(event) bool) (event, int) {
	t.Helper()
	found := -1
	p.wait(t, what, func(evs []event) bool {
		for i := from; i < len(evs); i++ {
			if match(evs[i]) {
				found = i
				return true
			}
		}
		return false
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.events[found], found
}

// waitCount waits until at least n events satisfy match.
func (p *peer) waitCount(t *testing.T, what string, n int, match func(event) bool) {
	t.Helper()
	p.wait(t, what, func(evs []event) bool {
		count := 0
		for _, e := range evs {
			if match(e) {
				count++
			}
		}
		return count >= n
	})
}

// wait waits until cond, called with the peer locked on all its events
// so far, holds; it fails the test after waitLimit or when the peer has
// exited without cond holding.
func (p *peer) wait(t *testing.T, what string, cond func([]event) bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	exited := false
	for {
		p.mu.Lock()
		ok := cond(p.events)
		changed := p.changed
		p.mu.Unlock()
		if ok {
			return
		}
		if exited {
			t.Fatalf("%s exited before %s; its events: %s\nits stderr:\n%s", p.name, what, p.eventsSeen(), p.stderr)
		}
		select {
		case <-changed:
		case <-p.done:
			exited = true // look once more: the last events came with the end
		case <-deadline.C:
			t.Fatalf("%s: no %s within %v; its events: %s", p.name, what, waitLimit, p.eventsSeen())
		}
	}
}

// find waits for any event, old or new, that satisfies match: for
// servers, whose events from many connections interleave.
func (p *peer) find(t *testing.T, what string, match func(event) bool) event {
	t.Helper()
	e, _ := p.waitFor(t, what, 0, match)
	return e
}

// next waits for the next event, after those already taken by next,
// that satisfies match, skipping the others: for clients, whose events
// come in order.
func (p *peer) next(t *testing.T, what string, match func(event) bool) event {
	t.Helper()
	p.mu.Lock()
	from := p.cursor
	p.mu.Unlock()
	e, i := p.waitFor(t, what, from, match)
	p.mu.Lock()
	p.cursor = i + 1
	p.mu.Unlock()
	return e
}

// countNow is how many events so far satisfy match.
func (p *peer) countNow(match func(event) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.events {
		if match(e) {
			n++
		}
	}
	return n
}

// eventsSeen lists the events so far (the last 30), for failure messages.
func (p *peer) eventsSeen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	evs := p.events
	if len(evs) > 30 {
		evs = evs[len(evs)-30:]
	}
	var b strings.Builder
	for _, e := range evs {
		b.WriteString("\n  " + e.String())
	}
	for _, l := range p.other {
		b.WriteString("\n  (not an event) " + l)
	}
	return b.String()
}

// is matches events by name.
func is(name string) func(event) bool {
	return func(e event) bool { return e.Event == name }
}

// isFor matches events by name and connection id.
func isFor(name, id string) func(event) bool {
	return func(e event) bool { return e.Event == name && e.ID == id }
}

// waitReady waits for the ready event of a server peer and returns the
// address it listens on.
func (p *peer) waitReady(t *testing.T) string {
	t.Helper()
	e := p.find(t, "ready line", is("ready"))
	if e.Port == 0 {
		t.Fatalf("%s: ready without a port: %v", p.name, e)
	}
	return fmt.Sprintf("127.0.0.1:%d", e.Port)
}

// send writes one JSON command line to the peer's stdin.
func (p *peer) send(t *testing.T, cmd any) {
	t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("%s: command %s: %v", p.name, b, err)
	}
}

// childProcAttr puts a peer in its own process group (the cleanup kills
// the group) and has the kernel kill it if the test binary dies without
// cleaning up (go test's -timeout panics): no peer outlives the run.
// Pdeathsig follows the thread that started the child; the Go runtime
// only ends threads locked by a goroutine that exits, which these tests
// never do.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// missingPeer ends a test that needs a peer that is not installed (see
// wstest.Unavailable: a skip locally, a failure under CI=true).
func missingPeer(t *testing.T, problem string) {
	t.Helper()
	wstest.Unavailable(t, "interop peer: %s", problem)
}

// connID is an id for the connections of test t, for ?id= in URLs:
// its name with everything but letters and digits made '-'.
func connID(t *testing.T) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
}

// startEchoServers starts the Node ws and the Python websockets echo
// servers behind one wsedge, on /node/echo and /python/echo: the pair most
// scenarios run against.
func startEchoServers(t *testing.T) (e *edge, node, python *peer) {
	t.Helper()
	requireNode(t)
	requirePythonModule(t, "websockets")
	node, nodeAddr := startNodeServer(t, nodeServerOptions{})
	python, pyAddr := startPython(t, "websockets", "echo.py")
	e = startEdge(t, edgeOptions{},
		route{Name: "node-echo", Path: "/node/echo", Backend: "ws://" + nodeAddr + "/echo"},
		route{Name: "python-echo", Path: "/python/echo", Backend: "ws://" + pyAddr + "/echo"},
	)
	return e, node, python
}
