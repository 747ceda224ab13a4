package proxy

import (
	"net"
	"syscall"

	proxyproto "github.com/pires/go-proxyproto"
)

// proxyProtocolListener wraps ln so that, while listen.proxy_protocol is
// on, a connection from a trusted proxy (trusted_proxies) must begin with
// a PROXY protocol header, v1 or v2, and its client address is the one
// the header gives (HAProxy's send-proxy-v2, a cloud L4 balancer). A
// trusted peer that sends none is dropped, as the protocol asks (a
// receiver must not guess whether a header is there); any other peer's
// connection is served as it is, so a header it sends is a bad request
// (400). The header is read by the connection's own goroutine, bounded by
// handshake_timeout, never by Accept.
func (s *Server) proxyProtocolListener(ln net.Listener) net.Listener {
	return proxiedListener{&proxyproto.Listener{
		Listener: ln,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if !s.proxyProtocol.Load() {
				return proxyproto.SKIP, nil
			}
			if a, ok := parseHostAddr(o.Upstream.String()); ok && s.runtime.Load().trusted.Contains(a) {
				return proxyproto.REQUIRE, nil
			}
			return proxyproto.SKIP, nil
		},
		ReadHeaderTimeout: s.settings.Load().handshakeTimeout,
	}}
}

// proxiedListener hands out proxiedConns.
type proxiedListener struct{ *proxyproto.Listener }

func (l proxiedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if pc, ok := c.(*proxyproto.Conn); ok {
		return proxiedConn{pc}, nil
	}
	return c, err
}

// proxiedConn is a connection that began with a PROXY protocol header.
// The relay takes over the socket under it (SyscallConn): by the time a
// WebSocket handshake is done, net/http has read past the header, and the
// library's small header buffer has been handed on with the first read.
type proxiedConn struct{ *proxyproto.Conn }

func (c proxiedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Raw().(syscall.Conn)
	if !ok {
		return nil, syscall.EINVAL
	}
	return sc.SyscallConn()
}
