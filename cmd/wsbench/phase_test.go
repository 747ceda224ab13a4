// End-to-end tests of metering over wsload's measured phase: with the
// real wsload, and with perf on a process that starts threads after perf
// attached.

package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/wstest"
)

// echoServer is a gorilla echo server on loopback for the test's length.
func echoServer(t *testing.T) string {
	t.Helper()
	up := websocket.Upgrader{}
	var conns sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		conns.Add(1)
		defer conns.Done()
		defer c.Close()
		for {
			mt, data, err := c.ReadMessage()
			if err != nil || c.WriteMessage(mt, data) != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		conns.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

func TestRunLoadCallsTheMeterAtThePhaseMarks(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wsload")
	if out, err := exec.Command("go", "build", "-o", bin, "../wsload").CombinedOutput(); err != nil {
		t.Fatalf("go build wsload: %v\n%s", err, out)
	}
	b := &bench{wsload: bin, opts: options{maxSteal: 100}}
	m := &recordingMeter{}
	res, err := b.runLoad(echoServer(t), load{mode: "echo", conns: 2, size: 64, duration: 300 * time.Millisecond}, m)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.calls, ","); got != "prepare,start,end,finish" {
		t.Errorf("meter calls %q, want prepare,start,end,finish", got)
	}
	if res.MessagesMeasured == 0 || res.MsgsPerSec <= 0 {
		t.Errorf("measured %d round trips at %.0f/s: want some", res.MessagesMeasured, res.MsgsPerSec)
	}
}

// Environment of TestThreadSpawnerChild: the files it signals through.
const (
	spawnerReadyEnv = "WSBENCH_TEST_SPAWNER_READY"
	spawnerDoneEnv  = "WSBENCH_TEST_SPAWNER_DONE"
)

// spawnedCalls is how many getppid calls each new thread of the child
// makes; spawnedThreads, how many threads it runs at once: more than a
// Go test process has before, so most of them must be new.
const spawnedCalls, spawnedThreads = 20000, 16

// TestPerfCountsThreadsStartedLater checks what perfCounter's comment
// claims: perf stat -p counts the system calls of threads the process
// starts after perf attached, even when they have exited by the time the
// counts are read.
func TestPerfCountsThreadsStartedLater(t *testing.T) {
	perf := lookTool(t, "perf", "counting system calls")
	dir := t.TempDir()
	ready, done := filepath.Join(dir, "ready"), filepath.Join(dir, "done")
	t.Setenv(spawnerReadyEnv, ready)
	t.Setenv(spawnerDoneEnv, done)
	child, err := startProcess(dir, "spawner", syscall.SIGTERM, os.Args[0], "-test.run=^TestThreadSpawnerChild$")
	if err != nil {
		t.Fatal(err)
	}
	defer child.stop()
	if !waitFor(10*time.Second, func() bool { _, err := os.Stat(ready); return err == nil }) {
		t.Fatal("the child did not get ready")
	}
	c := &perfCounter{bin: perf, proc: child, dir: dir, base: "perf"}
	if err := c.prepare(); err != nil {
		wstest.Unavailable(t, "perf cannot count system calls here: %v", err)
	}
	if err := c.phaseStart(); err != nil {
		c.finish()
		t.Fatal(err)
	}
	child.cmd.Process.Signal(syscall.SIGUSR1)
	if !waitFor(30*time.Second, func() bool { _, err := os.Stat(done); return err == nil }) {
		c.finish()
		t.Fatal("the child's threads did not finish")
	}
	phaseErr := c.phaseEnd()
	if err := c.finish(); err != nil || phaseErr != nil {
		t.Fatal(err, phaseErr)
	}
	peak, err := os.ReadFile(done)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(string(peak)); n <= c.threadsAtStart {
		t.Fatalf("the child had %s threads at its peak, %d when perf attached: no new threads to count", peak, c.threadsAtStart)
	}
	total, byName := c.counts()
	if want := uint64(spawnedCalls * spawnedThreads); byName["getppid"] < want || total < want {
		t.Errorf("perf counted %d getppid calls (%d in all), want at least %d: threads started after attaching were missed",
			byName["getppid"], total, want)
	}
	var named uint64
	for _, n := range byName {
		named += n
	}
	if named != total {
		t.Errorf("the counts by name add up to %d, the total is %d: the group should switch them on and off together", named, total)
	}
}

// TestPerfThatCannotAttachFailsAtOnce: perf exits when its process is
// gone; prepare says so at once rather than after perfAckWait.
func TestPerfThatCannotAttachFailsAtOnce(t *testing.T) {
	perf := lookTool(t, "perf", "counting system calls")
	dir := t.TempDir()
	gone, err := startProcess(dir, "gone", syscall.SIGTERM, "/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	<-gone.done
	c := &perfCounter{bin: perf, proc: gone, dir: dir, base: "perf"}
	begin := time.Now()
	err = c.prepare()
	if err == nil || !strings.Contains(err.Error(), "perf exited") {
		t.Errorf("prepare: %v, want perf's exit reported", err)
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("prepare took %v to notice", took)
	}
}

// TestThreadSpawnerChild is the child of TestPerfCountsThreadsStartedLater;
// run directly, it does nothing. On SIGUSR1 it runs spawnedThreads
// goroutines locked to their threads at once, each making spawnedCalls
// getppid calls, and writes its peak thread count to the done file.
func TestThreadSpawnerChild(t *testing.T) {
	ready, done := os.Getenv(spawnerReadyEnv), os.Getenv(spawnerDoneEnv)
	if ready == "" {
		t.Skip("only runs as the child of TestPerfCountsThreadsStartedLater")
	}
	usr1, term := make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	signal.Notify(term, syscall.SIGTERM)
	if err := os.WriteFile(ready, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	<-usr1
	var started, finished sync.WaitGroup
	calls := make(chan struct{})
	for range spawnedThreads {
		started.Add(1)
		finished.Add(1)
		go func() {
			defer finished.Done()
			// Locked goroutines alive at the same time each hold a
			// thread; a thread whose goroutine exits locked ends too.
			runtime.LockOSThread()
			started.Done()
			<-calls
			for range spawnedCalls {
				syscall.Getppid()
			}
		}()
	}
	started.Wait()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	close(calls)
	finished.Wait()
	if err := os.WriteFile(done, []byte(strconv.Itoa(len(tasks))), 0o600); err != nil {
		t.Fatal(err)
	}
	<-term // the parent is done counting
}
