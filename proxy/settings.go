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
}

// settingsFrom are the connection settings cfg configures.
func settingsFrom(cfg Config) *connSettings {
	cs := &connSettings{
		pingInterval:     cfg.Keepalive.PingInterval.D(),
		pongTimeout:      cfg.Keepalive.PongTimeout.D(),
		writeTimeout:     cfg.Limits.WriteTimeout.D(),
		closeWait:        upstream.CloseWait(cfg.Limits.WriteTimeout.D()),
		maxMessageBytes:  int64(cfg.Limits.MaxMessageBytes),
		handshakeTimeout: cfg.Limits.HandshakeTimeout.D(),
	}
	return cs
}
