package wsconform

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wsedge/wsedge/internal/wsframe"
)

// openHandshakeTimeout bounds the TCP connect, TLS and HTTP upgrade of one
// case. Autobahn's client gives the opening handshake 5 s
// (openHandshakeTimeout in autobahn-python's resetProtocolOptions).
const openHandshakeTimeout = 5 * time.Second

// DialError reports that the server could not be reached at all: no TCP
// connection, or no TLS session. Run stops on it, since no later case could
// run either. A server that answers but refuses the upgrade is not a
// DialError: that case is FAILED and the run goes on.
type DialError struct {
	Addr string
	Err  error
}

// Error says what could not be reached and why.
func (e *DialError) Error() string { return fmt.Sprintf("wsconform: dial %s: %v", e.Addr, e.Err) }

// Unwrap returns the underlying network or TLS error.
func (e *DialError) Unwrap() error { return e.Err }

// dialer opens the one WebSocket connection each case runs on.
type dialer struct {
	target *url.URL
	tls    *tls.Config
	header http.Header
	open   func(ctx context.Context) (net.Conn, *bufio.Reader, error) // Options.Open
}

// newDialer checks the URL once, before any case runs.
func newDialer(rawURL string, opts Options) (*dialer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("wsconform: parse url %q: %w", rawURL, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("wsconform: url %q: scheme must be ws or wss", rawURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("wsconform: url %q has no host", rawURL)
	}
	return &dialer{target: u, tls: opts.TLSConfig, header: opts.Header, open: opts.Open}, nil
}

// addr is the host:port to connect to, with the scheme's default port.
func (d *dialer) addr() string {
	if d.target.Port() != "" {
		return d.target.Host
	}
	if d.target.Scheme == "wss" {
		return net.JoinHostPort(d.target.Hostname(), "443")
	}
	return net.JoinHostPort(d.target.Hostname(), "80")
}

// dial connects and performs the opening handshake. The returned reader
// holds whatever the server sent right behind its 101: those bytes are the
// first frames of the connection and must not be lost.
func (d *dialer) dial(ctx context.Context) (net.Conn, *bufio.Reader, error) {
	ctx, cancel := context.WithTimeout(ctx, openHandshakeTimeout)
	defer cancel()
	if d.open != nil {
		return d.open(ctx)
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	br, err := d.upgrade(conn)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	conn.SetDeadline(time.Time{})
	return conn, br, nil
}

// connect opens TCP (and TLS for wss) with Nagle's algorithm off, so that
// each chopped write leaves as its own segment, as Autobahn's client sets
// tcpNoDelay.
func (d *dialer) connect(ctx context.Context) (net.Conn, error) {
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", d.addr())
	if err != nil {
		return nil, &DialError{Addr: d.addr(), Err: err}
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		if err := tc.SetNoDelay(true); err != nil {
			raw.Close()
			return nil, &DialError{Addr: d.addr(), Err: fmt.Errorf("set TCP_NODELAY: %w", err)}
		}
	}
	if d.target.Scheme != "wss" {
		return raw, nil
	}
	cfg := d.tls.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = d.target.Hostname()
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, &DialError{Addr: d.addr(), Err: fmt.Errorf("tls handshake: %w", err)}
	}
	return tc, nil
}

// upgrade writes the client's opening handshake by hand (RFC 6455 section
// 4.1) and checks the server's answer as section 4.1 requires of a client.
func (d *dialer) upgrade(conn net.Conn) (*bufio.Reader, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	req := d.request(key)
	if _, err := conn.Write(req); err != nil {
		return nil, fmt.Errorf("wsconform: write upgrade request: %w", err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, fmt.Errorf("wsconform: read upgrade response: %w", err)
	}
	// A 101 has no body (RFC 7230 section 3.3.3), so ReadResponse stops at
	// the blank line and every byte after it is still in br.
	resp.Body.Close()
	if err := checkUpgrade(resp, key); err != nil {
		return nil, err
	}
	return br, nil
}

// request is the upgrade request: the headers RFC 6455 section 4.1 makes
// mandatory, then any extra ones from Options. It offers no extension and
// no subprotocol, so the server must not pick one.
func (d *dialer) request(key string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\n", d.target.RequestURI())
	fmt.Fprintf(&b, "Host: %s\r\n", d.target.Host)
	b.WriteString("Upgrade: websocket\r\n")
	b.WriteString("Connection: Upgrade\r\n")
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\n", key)
	b.WriteString("Sec-WebSocket-Version: 13\r\n")
	b.WriteString("User-Agent: wsconform\r\n")
	for name, values := range d.header {
		for _, v := range values {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// newKey is a random 16-byte nonce, base64-encoded (RFC 6455 section 4.1,
// item 7).
func newKey() (string, error) {
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", fmt.Errorf("wsconform: handshake key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(nonce[:]), nil
}

// errNotUpgraded wraps every reason a server's answer is not a valid 101.
var errNotUpgraded = errors.New("wsconform: server did not upgrade")

// checkUpgrade applies the client-side checks of RFC 6455 section 4.1
// (the numbered list after "the client MUST validate the server's
// response").
func checkUpgrade(resp *http.Response, key string) error {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("%w: status %s", errNotUpgraded, resp.Status)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return fmt.Errorf("%w: Upgrade header %q", errNotUpgraded, resp.Header.Get("Upgrade"))
	}
	if !headerHasToken(resp.Header, "Connection", "upgrade") {
		return fmt.Errorf("%w: Connection header %q lacks upgrade", errNotUpgraded, resp.Header.Values("Connection"))
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), wsframe.AcceptKey(key); got != want {
		return fmt.Errorf("%w: Sec-WebSocket-Accept %q, want %q", errNotUpgraded, got, want)
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		return fmt.Errorf("%w: extension %q was not offered", errNotUpgraded, ext)
	}
	if proto := resp.Header.Get("Sec-WebSocket-Protocol"); proto != "" {
		return fmt.Errorf("%w: subprotocol %q was not offered", errNotUpgraded, proto)
	}
	return nil
}

// headerHasToken reports whether a comma-separated header contains token,
// case-insensitively (RFC 7230 section 6.1 for Connection).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
