// Local resource limits: the open-file limit, which caps how many
// connections one wsload process can hold, and the tool's own CPU use,
// which tells whether wsload rather than the target was the bottleneck.
//
// A run that hits the local open-file limit measures the load generator,
// not the target, so wsload raises the limit where it can, warns before
// the run when it will not suffice, and reports EMFILE/ENFILE apart from
// the target's failures.

package main

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"
)

// fdReserve is how many descriptors besides connections a run needs:
// standard streams, the Go runtime's poller, DNS, certificate files.
const fdReserve = 64

// raiseOpenFileLimit raises the soft RLIMIT_NOFILE to the hard limit and
// returns the soft limit now in force. (Go already does this at startup
// on Linux since 1.19; doing it explicitly keeps wsload correct
// elsewhere and reports the number.)
func raiseOpenFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= lim.Max {
		return lim.Cur, nil
	}
	raised := lim
	raised.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		return lim.Cur, fmt.Errorf("setrlimit RLIMIT_NOFILE to %d: %w", lim.Max, err)
	}
	return raised.Cur, nil
}

// warnIfTooFewFiles tells the user, before the run, that the open-file
// limit rather than the target will cap the number of connections.
func warnIfTooFewFiles(w io.Writer, connections int, limit uint64) {
	need := uint64(connections) + fdReserve
	if need <= limit {
		return
	}
	fmt.Fprintf(w, "wsload: warning: -c %d needs about %d open files but the open-file limit is %d:\n"+
		"  the local limit, not the target, will be the bottleneck (connections beyond it fail with EMFILE).\n"+
		"  Raise it before running wsload, e.g. `ulimit -n %d` (above the hard limit this needs root,\n"+
		"  or a higher nofile in /etc/security/limits.conf or LimitNOFILE= in a systemd unit).\n",
		connections, need, limit, need)
}

// isLocalFileLimit reports whether a dial failed because this process or
// the whole system ran out of file descriptors, as opposed to a failure of
// the target or the network.
func isLocalFileLimit(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// cpuTime is the user and system CPU time this process has used so far.
func cpuTime() (user, system time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
