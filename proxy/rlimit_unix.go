//go:build unix

package proxy

import "syscall"

// openFileLimit is the process's open-file limit (RLIMIT_NOFILE, soft,
// which Go raises to the hard limit at start), or 0 if unknown;
// connectionsForFiles treats "unlimited" as unknown.
func openFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return uint64(lim.Cur)
}
