package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSlowloris runs a small attack of each kind against a wsedge built
// from this repository, with handshake_timeout shortened so that wsedge
// cuts connections during the run: the attack must hold its connections
// (reopening what is cut) and the probe must get through. Timing is not
// checked.
func TestSlowloris(t *testing.T) {
	t.Chdir("../..") // wsbench builds wsedge from the repository root
	for _, plain := range []bool{true, false} {
		o := slowlorisOptions{plain: plain, n: 50, duration: 1500 * time.Millisecond, baseline: 300 * time.Millisecond,
			ramp: 200 * time.Millisecond, probeRate: 50, dir: t.TempDir(), handshakeTimeout: 500 * time.Millisecond}
		s := &slowloris{opts: o}
		if err := s.start(); err != nil {
			s.close()
			t.Fatal(err)
		}
		runs, err := s.run(context.Background())
		s.close()
		report := s.report(runs)
		if err != nil {
			t.Fatalf("plain=%v: %v\n%s", plain, err, report)
		}
		if len(runs) != len(o.attacks()) {
			t.Fatalf("plain=%v: %d attacks run, want %d\n%s", plain, len(runs), len(o.attacks()), report)
		}
		if failed := slowlorisFailures(runs, o.n); len(failed) > 0 {
			t.Errorf("plain=%v: %q\n%s", plain, failed, report)
		}
		for _, r := range runs {
			if r.held.cuts == 0 {
				t.Errorf("%s: wsedge cut no half-open connection in %v with a handshake_timeout of %v\n%s", r.attack, o.duration, o.handshakeTimeout, report)
			}
			if r.plateau.fds < r.base.fds+o.n/2 {
				t.Errorf("%s: wsedge held %d descriptors under attack, %d before\n%s", r.attack, r.plateau.fds, r.base.fds, report)
			}
		}
		if !strings.Contains(report, "| attack | phase |") {
			t.Errorf("no table in the report:\n%s", report)
		}
	}
}

func TestProbePercentile(t *testing.T) {
	ps := &probeStats{}
	for i := 1; i <= 100; i++ {
		ps.add(probeSample{handshake: time.Duration(i) * time.Millisecond})
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond} {
		if got := ps.percentile(p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if got := (&probeStats{}).percentile(99); got != 0 {
		t.Errorf("no samples: p99 = %v, want 0", got)
	}
}
