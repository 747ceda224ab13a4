package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
)

// handshakeConn records what is read through it during a backend
// handshake. gorilla's dialer reads the backend's 101 response through a
// buffer of its own, and may read more: the first frames a backend sends
// right behind its 101. Those bytes belong to the connection, which the
// proxy takes over from gorilla after the handshake; the record lets it
// hand them on (see Conn.Early).
type handshakeConn struct {
	net.Conn
	read []byte
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read = append(c.read, p[:n]...)
	return n, err
}

// early returns a copy of what was read past the end of the response head
// (a 101 has no body), or nil.
func (c *handshakeConn) early() []byte {
	i := bytes.Index(c.read, []byte("\r\n\r\n"))
	if i < 0 || i+4 == len(c.read) {
		return nil
	}
	return bytes.Clone(c.read[i+4:])
}

// dialFuncs returns the dial functions of a backend's WebSocket dialer:
// connect (TCP, or the backend's Unix socket), let wrap see the socket
// (the proxy's relay takes it over later), do TLS for wss://, and record
// the handshake.
func dialFuncs(connect func(ctx context.Context, network, addr string) (net.Conn, error), wrap func(net.Conn) net.Conn, tlsConfig *tls.Config) (plain, secure func(ctx context.Context, network, addr string) (net.Conn, error)) {
	open := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := connect(ctx, network, addr)
		if err != nil || wrap == nil {
			return c, err
		}
		return wrap(c), nil
	}
	plain = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := open(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &handshakeConn{Conn: c}, nil
	}
	secure = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := open(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cfg := tlsConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		// gorilla's dialer offers only http/1.1 itself; do the same.
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		return &handshakeConn{Conn: tc}, nil
	}
	return plain, secure
}
