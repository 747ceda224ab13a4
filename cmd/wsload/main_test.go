// Tests of the command as a whole: flags, exit statuses, the JSON
// interface, and the local open-file limit.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// jsonFields are the documented summary fields, which scripts rely on.
var jsonFields = []string{
	"mode", "url", "connections", "size", "window", "rate", "duration_s",
	"messages_sent", "messages_received", "messages_measured", "msgs_per_sec", "mb_per_sec",
	"lost", "corrupted", "reordered", "errors", "latency_us",
	"handshakes", "handshakes_per_sec", "h2_conns",
	"conns_opened", "conns_failed", "conns_open_at_end",
	"error_samples", "fd_limit",
}

var latencyFields = []string{"p50", "p90", "p99", "p999", "max", "mean"}

func TestJSONOutputHasExactlyTheDocumentedFields(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, false)
	for _, mode := range []string{modeEcho, modeIdle, modeHandshake} {
		t.Run(mode, func(t *testing.T) {
			res := runWsload(t, "-url", srv.wsURL(), "-mode", mode, "-c", "2", "-duration", "100ms", "-progress", "0", "-json")
			if res.code != 0 {
				t.Fatalf("exit %d; stderr: %s", res.code, res.stderr)
			}
			var obj map[string]any
			dec := json.NewDecoder(strings.NewReader(res.stdout))
			if err := dec.Decode(&obj); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, res.stdout)
			}
			if dec.More() {
				t.Errorf("stdout holds more than one JSON value:\n%s", res.stdout)
			}
			checkKeys(t, "summary", obj, jsonFields)
			latency, ok := obj["latency_us"].(map[string]any)
			if !ok {
				t.Fatalf("latency_us is %T, want an object", obj["latency_us"])
			}
			checkKeys(t, "latency_us", latency, latencyFields)
			if _, ok := obj["error_samples"].([]any); !ok {
				t.Errorf("error_samples is %v, want an array", obj["error_samples"])
			}
			if obj["mode"] != mode || obj["url"] != srv.wsURL() || obj["fd_limit"].(float64) <= 0 {
				t.Errorf("mode %v url %v fd_limit %v", obj["mode"], obj["url"], obj["fd_limit"])
			}
			for _, k := range jsonFields {
				switch obj[k].(type) {
				case float64, string, []any, map[string]any:
				default:
					t.Errorf("field %s is %T", k, obj[k])
				}
			}
		})
	}
}

func checkKeys(t *testing.T, what string, obj map[string]any, want []string) {
	t.Helper()
	var got []string
	for k := range obj {
		got = append(got, k)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s fields\n got %q\nwant %q", what, got, want)
	}
}

func TestBadFlagsExit2(t *testing.T) {
	t.Parallel()
	url := "ws://127.0.0.1:1/"
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{}, "-url is required"},
		{[]string{"-url", "http://127.0.0.1/"}, "scheme must be ws or wss"},
		{[]string{"-url", url, "-size", "23"}, "at least 24 bytes"},
		{[]string{"-url", url, "-text", "-size", "47"}, "at least 48 bytes"},
		{[]string{"-url", url, "-mode", "flood"}, "must be echo, idle or handshake"},
		{[]string{"-url", url, "-c", "0"}, "at least one connection"},
		{[]string{"-url", url, "-window", "0"}, "-window"},
		{[]string{"-url", url, "-rate", "-1"}, "-rate"},
		{[]string{"-url", url, "-duration", "0s"}, "-duration"},
		{[]string{"-url", url, "-ramp", "0"}, "-ramp"},
		{[]string{"-url", url, "extra"}, "unexpected arguments"},
		{[]string{"-url", url, "-nosuchflag"}, "flag provided but not defined"},
		{[]string{"-url", "wss://127.0.0.1:1/", "-ca", "/nonexistent/ca.pem"}, "-ca"},
		{[]string{"-url", url, "-local-addrs", "127.0.0.2,localhost"}, `"localhost" is not an IP address`},
		{[]string{"-url", url, "-local-addrs", "192.0.2.1"}, "not an address of this machine"},
		{[]string{"-url", url, "-phase-fd", "2"}, "must be 3 or more"},
		{[]string{"-url", url, "-phase-fd", "-1"}, "must be 3 or more"},
		{[]string{"-url", url, "-phase-fd", "1000000"}, "not an open descriptor"},
		{[]string{"-url", "wss://127.0.0.1:1/", "-mode", "handshake", "-h2-conns", "-1"}, "must be 0 (HTTP/1.1) or positive"},
		{[]string{"-url", "wss://127.0.0.1:1/", "-h2-conns", "1"}, "-mode handshake only"},
		{[]string{"-url", url, "-mode", "handshake", "-h2-conns", "1"}, "needs a wss:// URL"},
		{[]string{"-url", "wss://127.0.0.1:1/", "-mode", "handshake", "-c", "2", "-h2-conns", "3"}, "more than the -c 2 workers"},
	} {
		res := runWsload(t, tc.args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("wsload %q: exit %d, stderr %q; want 2 and %q", tc.args, res.code, res.stderr, tc.want)
		}
		if res.stdout != "" {
			t.Errorf("wsload %q printed to stdout: %q", tc.args, res.stdout)
		}
	}
}

func TestHelpExits0(t *testing.T) {
	res := runWsload(t, "-h")
	if res.code != 0 || !strings.Contains(res.stderr, "-window") {
		t.Errorf("-h: exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestUnreachableTargetExits1(t *testing.T) {
	t.Parallel()
	// A port that was just free: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("ws://%s/", l.Addr())
	l.Close()
	s, res := runJSON(t, "-url", url, "-c", "3", "-duration", "100ms", "-progress", "0")
	if res.code != 1 || s.ConnsOpened != 0 || s.ConnsFailed != 3 || s.Errors != 3 {
		t.Errorf("exit %d, opened %d, failed %d, errors %d: want 1, 0, 3, 3", res.code, s.ConnsOpened, s.ConnsFailed, s.Errors)
	}
	if len(s.ErrorSamples) != 1 || !strings.Contains(s.ErrorSamples[0], "connection refused") {
		t.Errorf("error samples %q, want one 'connection refused'", s.ErrorSamples)
	}
}

func TestInterruptEndsTheRunEarly(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int)
	var stdout bytes.Buffer
	go func() {
		done <- run(ctx, []string{"-url", srv.wsURL(), "-c", "2", "-duration", "1h", "-progress", "0", "-json"}, &stdout, new(bytes.Buffer))
	}()
	waitFor(t, 5*time.Second, "the measured phase to start", func() bool { return srv.messages.Load() > 0 })
	cancel()
	select {
	case code := <-done:
		var s summary
		if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
			t.Fatalf("no JSON summary after the interrupt: %v", err)
		}
		if code != 0 || s.Lost != 0 || s.DurationS > 60 {
			t.Errorf("exit %d, lost %d, duration %.1fs: want a clean, short run", code, s.Lost, s.DurationS)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not end after its context was cancelled")
	}
}

func TestLocalFileLimitIsClassified(t *testing.T) {
	emfile := fmt.Errorf("dial ws://x/: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)})
	if !isLocalFileLimit(emfile) {
		t.Errorf("%v not recognised as the local open-file limit", emfile)
	}
	refused := fmt.Errorf("dial ws://x/: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	if isLocalFileLimit(refused) {
		t.Errorf("%v taken for the local open-file limit", refused)
	}
	var w bytes.Buffer
	warnIfTooFewFiles(&w, 100, 1000)
	if w.Len() != 0 {
		t.Errorf("warning with plenty of files: %q", w.String())
	}
	warnIfTooFewFiles(&w, 5000, 1024)
	if !strings.Contains(w.String(), "ulimit -n") || !strings.Contains(w.String(), "1024") {
		t.Errorf("warning %q should name the limit and how to raise it", w.String())
	}
}

// lowLimitEnv tells a re-executed test binary to act as a wsload process
// with a low open-file limit.
const lowLimitEnv = "WSLOAD_TEST_LOW_FILE_LIMIT_URL"

// TestLocalFileLimitStopsTheRamp runs wsload in a child process whose
// open-file limit is far below -c (lowering the limit in this process
// would starve the other tests) and checks that the limit is reported as
// such, apart from the target's errors.
func TestLocalFileLimitStopsTheRamp(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, false)
	out := filepath.Join(t.TempDir(), "summary.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLowFileLimitChild$")
	cmd.Env = append(os.Environ(), lowLimitEnv+"="+srv.wsURL(), "WSLOAD_TEST_OUT="+out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("child: %v", err)
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no summary from the child: %v; stderr: %s", err, stderr.String())
	}
	var s summary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("child summary: %v\n%s", err, data)
	}
	if !strings.Contains(stderr.String(), "ulimit -n") {
		t.Errorf("no warning about the open-file limit before the run; stderr: %s", stderr.String())
	}
	if s.FDLimit != 48 {
		t.Errorf("fd_limit %d, want the child's 48", s.FDLimit)
	}
	if s.ConnsOpened == 0 || s.ConnsOpened >= 100 || s.ConnsFailed == 0 {
		t.Errorf("opened %d, failed %d: want the limit to stop the ramp part way", s.ConnsOpened, s.ConnsFailed)
	}
	if len(s.ErrorSamples) == 0 || !strings.Contains(s.ErrorSamples[0], "local open-file limit reached (48 files)") {
		t.Errorf("error samples %q should start with the local open-file limit", s.ErrorSamples)
	}
}

// TestLowFileLimitChild is the child process of
// TestLocalFileLimitStopsTheRamp; run directly, it does nothing.
func TestLowFileLimitChild(t *testing.T) {
	url := os.Getenv(lowLimitEnv)
	if url == "" {
		t.Skip("only runs as the child of TestLocalFileLimitStopsTheRamp")
	}
	lim := syscall.Rlimit{Cur: 48, Max: 48}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	code := run(context.Background(), []string{"-url", url, "-mode", "idle", "-c", "100", "-duration", "100ms", "-progress", "0", "-json"}, &stdout, os.Stderr)
	if err := os.WriteFile(os.Getenv("WSLOAD_TEST_OUT"), stdout.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Logf("exit %d", code)
	}
}
