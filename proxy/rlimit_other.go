//go:build !unix

package proxy

// openFileLimit is unknown here: max_connections has no default bound.
func openFileLimit() uint64 { return 0 }
