//go:build !unix

package xconnect

import "errors"

// Enable cannot run the program again here: set GODEBUG=http2xconnect=1
// in its environment instead.
func Enable() error {
	if Enabled() {
		return nil
	}
	return errors.New("xconnect: set GODEBUG=http2xconnect=1 to accept WebSockets over HTTP/2")
}
