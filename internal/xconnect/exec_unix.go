//go:build unix

package xconnect

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Enable runs this program again, in this process, with extended CONNECT
// turned on, unless it already is; it returns only if it is on, or with
// the error that kept it off (the caller then serves HTTP/2 without
// WebSockets over it, and browsers open theirs over HTTP/1.1).
func Enable() error {
	switch on, said := lookup(os.Getenv("GODEBUG")); {
	case on:
		return nil
	case said:
		return errors.New("xconnect: GODEBUG turns http2xconnect off")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("xconnect: find the executable: %w", err)
	}
	env := append(os.Environ(), "GODEBUG="+with(os.Getenv("GODEBUG")))
	if err := syscall.Exec(exe, os.Args, env); err != nil {
		return fmt.Errorf("xconnect: run %s again with GODEBUG=%s: %w", exe, setting, err)
	}
	return nil // not reached: the program runs again
}
