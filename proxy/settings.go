package proxy

import (
	"time"

	"github.com/wsedge/wsedge/upstream"
)

// connSettings are the keepalive and limits a connection runs with. A
// connection takes the server's current ones when it opens and keeps
// them: a reload that changes keepalive or limits applies to new
// connections, and live ones are not disturbed (issue 9).
type connSettings struct {
	pingInterval     time.Duration // 0: no keepalive
	pongTimeout      time.Duration
	writeTimeout     time.Duration // 0: none
	closeWait        time.Duration // bound on a closing handshake
	maxMessageBytes  int64         // 0: unlimited
	handshakeTimeout time.Duration // backend dial and upgrade
	// maxConnections and maxConnectionsPerIP bound upgraded connections
	// (0: none); see LimitsConfig.
	maxConnections      int
	maxConnectionsPerIP int
}

// settingsFrom are the connection settings cfg configures.
func settingsFrom(cfg Config) *connSettings {
	cs := &connSettings{
		pingInterval:        cfg.Keepalive.PingInterval.D(),
		pongTimeout:         cfg.Keepalive.PongTimeout.D(),
		writeTimeout:        cfg.Limits.WriteTimeout.D(),
		closeWait:           upstream.CloseWait(cfg.Limits.WriteTimeout.D()),
		maxMessageBytes:     int64(cfg.Limits.MaxMessageBytes),
		handshakeTimeout:    cfg.Limits.HandshakeTimeout.D(),
		maxConnections:      cfg.Limits.MaxConnections,
		maxConnectionsPerIP: cfg.Limits.MaxConnectionsPerIP,
	}
	if cs.maxConnections == 0 {
		cs.maxConnections = connectionsForFiles(openFileLimit())
	}
	return cs
}

// fileHeadroom are the descriptors kept out of max_connections' default
// for listeners, backend dials in progress, plain HTTP requests, the
// admin page and files (a tail's).
const fileHeadroom = 100

// connectionsForFiles is max_connections' default under an open-file
// limit of nofile: a proxied connection holds two descriptors (client and
// backend), so that the process refuses with 503 before accept or a
// dial fails for want of one. 0 (none) when the limit is unknown.
func connectionsForFiles(nofile uint64) int {
	if nofile == 0 || nofile > 1<<40 {
		return 0
	}
	return max(1, int((nofile-min(nofile, fileHeadroom))/2))
}
