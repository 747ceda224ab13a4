// Tests of -phase-fd: the marks a benchmark reads the target's counters by.

package main

import (
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
)

// markPipe returns a pipe's read end and a descriptor of its write end for
// -phase-fd, which wsload takes over (and closes when the run ends). The
// descriptor is a close-on-exec duplicate: one inherited by a child that
// a parallel test starts would keep the pipe open after wsload closed it.
func markPipe(t *testing.T) (*os.File, int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	fd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), syscall.F_DUPFD_CLOEXEC, 3)
	w.Close()
	if errno != 0 {
		t.Fatalf("fcntl F_DUPFD_CLOEXEC: %v", errno)
	}
	return r, int(fd)
}

func TestPhaseMarks(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, false)
	for _, mode := range []string{modeEcho, modeIdle, modeHandshake} {
		t.Run(mode, func(t *testing.T) {
			r, fd := markPipe(t)
			marks := make(chan string, 1)
			go func() {
				data, _ := io.ReadAll(r) // until wsload closes its end
				marks <- string(data)
			}()
			s, res := runJSON(t, "-url", srv.wsURL(), "-mode", mode, "-c", "2", "-duration", "200ms", "-progress", "0",
				"-phase-fd", strconv.Itoa(fd))
			if res.code != 0 {
				t.Fatalf("exit %d; stderr: %s", res.code, res.stderr)
			}
			if got := <-marks; got != "start\nend\n" {
				t.Errorf("marks %q, want %q", got, "start\nend\n")
			}
			if mode != modeEcho {
				return
			}
			// The measured count is what the rate is computed from.
			if s.MessagesMeasured == 0 || s.MessagesMeasured > s.MessagesReceived {
				t.Errorf("measured %d of %d received: want some, no more than received", s.MessagesMeasured, s.MessagesReceived)
			}
			if rate := float64(s.MessagesMeasured) / s.DurationS; rate/s.MsgsPerSec < 0.999 || rate/s.MsgsPerSec > 1.001 {
				t.Errorf("measured %d in %.3fs is %.0f/s, but msgs_per_sec is %.0f", s.MessagesMeasured, s.DurationS, rate, s.MsgsPerSec)
			}
		})
	}
}
