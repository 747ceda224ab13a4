package upstream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wsedge/wsedge/internal/wsframe"
)

// The backend leg's opening handshake (RFC 6455 section 4.1) is wsedge's
// own, not gorilla's Dialer: gorilla refuses a Sec-WebSocket-Extensions
// header from its caller, and wsedge forwards the client's offer so that
// permessage-deflate works end to end (issue 11).

const (
	// maxResponseHead bounds a backend's status line and headers: a
	// longer head fails the dial.
	maxResponseHead = 64 << 10
	// refusalBodyLimit is how much of a non-101 answer's body is kept
	// for the client to see: an explanation, not a download.
	refusalBodyLimit = 1 << 10
	// defaultResponseBuffer sizes the reader of a backend's answer when
	// Env.Dialer sets no ReadBufferSize (bufio's default).
	defaultResponseBuffer = 4096
)

var (
	// errNotUpgraded: the backend answered with a status other than 101;
	// the response comes with the error, for the client to get.
	errNotUpgraded = errors.New("backend did not switch protocols")
	// errBadUpgrade: a 101 that is not a valid WebSocket answer (RFC
	// 6455 section 4.1: the client must fail the connection).
	errBadUpgrade = errors.New("invalid WebSocket answer")
	// errLongHead: the backend's status line and headers go on past
	// maxResponseHead.
	errLongHead = fmt.Errorf("response head over %d bytes", maxResponseHead)
)

// aLongTimeAgo is a deadline in the past: it makes a blocked read or
// write return at once.
var aLongTimeAgo = time.Unix(1, 0)

// handshake connects to target (a ws:// or wss:// URL b.url expanded)
// and completes the WebSocket handshake on the connection, within ctx
// and the dialer's handshake timeout. A non-101 answer, or a 101 that
// fails the checks, comes back as the response with an error.
func (b *Backend) handshake(ctx context.Context, target string, dr *DialRequest) (*Conn, *http.Response, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, nil, err
	}
	if t := b.dialer.HandshakeTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	connect := b.dialer.NetDialContext
	if u.Scheme == "wss" {
		connect = b.dialer.NetDialTLSContext
	}
	nc, err := connect(ctx, "tcp", hostPort(u))
	if err != nil {
		return nil, nil, err
	}
	early, resp, err := upgradeWithin(ctx, nc, u, dr, b.responseBuffer())
	if err != nil {
		nc.Close()
		return nil, resp, err
	}
	return &Conn{NetConn: nc, Early: early}, resp, nil
}

func (b *Backend) responseBuffer() int {
	if n := b.dialer.ReadBufferSize; n > 0 {
		return n
	}
	return defaultResponseBuffer
}

// upgradeWithin runs upgrade on nc until ctx is done: its deadline is
// the connection's, and its cancellation (the client left) stops a
// read or write that waits.
func upgradeWithin(ctx context.Context, nc net.Conn, u *url.URL, dr *DialRequest, bufSize int) ([]byte, *http.Response, error) {
	if deadline, ok := ctx.Deadline(); ok {
		nc.SetDeadline(deadline)
	}
	aborted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		nc.SetDeadline(aLongTimeAgo)
		close(aborted)
	})
	early, resp, err := upgrade(nc, u, dr, bufSize)
	if !stop() {
		// ctx ended, maybe right as the answer came: the connection's
		// deadline is gone, and so is the dial.
		<-aborted
		if err == nil {
			return nil, nil, ctx.Err()
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return nil, resp, err
	}
	nc.SetDeadline(time.Time{})
	return early, resp, nil
}

// upgrade writes the handshake request for u on nc and reads the
// backend's answer through a reader of bufSize bytes. It returns the
// bytes that reader took past a 101's head (frames the backend sent
// right behind it), and the response. For a non-101 answer the
// response's body holds at most refusalBodyLimit bytes of the backend's.
func upgrade(nc net.Conn, u *url.URL, dr *DialRequest, bufSize int) ([]byte, *http.Response, error) {
	key, err := newChallengeKey()
	if err != nil {
		return nil, nil, err
	}
	req := handshakeRequest(u, dr, key)
	if err := req.Write(nc); err != nil {
		return nil, nil, fmt.Errorf("write request: %w", err)
	}
	head := &io.LimitedReader{R: nc, N: maxResponseHead}
	br := bufio.NewReaderSize(head, bufSize)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		if head.N == 0 {
			err = errLongHead
		}
		return nil, nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// The body's framing (chunk sizes) gets the head's bound again;
		// its content is cut at refusalBodyLimit.
		head.N = maxResponseHead
		body, _ := io.ReadAll(io.LimitReader(resp.Body, refusalBodyLimit))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil, resp, fmt.Errorf("%w: %s", errNotUpgraded, resp.Status)
	}
	if err := checkUpgrade(resp.Header, key); err != nil {
		return nil, resp, err
	}
	var early []byte
	if n := br.Buffered(); n > 0 {
		p, _ := br.Peek(n)
		early = bytes.Clone(p)
	}
	return early, resp, nil
}

// handshakeRequest is the GET that opens a WebSocket to u (RFC 6455
// section 4.1): the caller's headers, then the handshake's own, spelled
// as the RFC spells them (some servers compare names case-sensitively).
func handshakeRequest(u *url.URL, dr *DialRequest, key string) *http.Request {
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, len(dr.Header)+6),
		Host:       u.Host,
	}
	for k, vv := range dr.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Host":
			if len(vv) > 0 {
				req.Host = vv[0]
			}
		case "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
			"Sec-Websocket-Protocol", "Sec-Websocket-Extensions":
			// The handshake's own, set below.
		default:
			req.Header[k] = vv
		}
	}
	req.Header["Upgrade"] = []string{"websocket"}
	req.Header["Connection"] = []string{"Upgrade"}
	req.Header["Sec-WebSocket-Key"] = []string{key}
	req.Header["Sec-WebSocket-Version"] = []string{"13"}
	if len(dr.Subprotocols) > 0 {
		req.Header["Sec-WebSocket-Protocol"] = []string{strings.Join(dr.Subprotocols, ", ")}
	}
	if dr.Extensions != "" {
		req.Header["Sec-WebSocket-Extensions"] = []string{dr.Extensions}
	}
	return req
}

// checkUpgrade checks a 101's headers against RFC 6455 section 4.1: it
// switches to websocket and proves the backend read the key. The
// subprotocol and extensions are the caller's to check against what the
// client offered.
func checkUpgrade(h http.Header, key string) error {
	switch {
	case !hasToken(h, "Upgrade", "websocket"):
		return fmt.Errorf("%w: Upgrade is %q, want websocket", errBadUpgrade, h.Get("Upgrade"))
	case !hasToken(h, "Connection", "upgrade"):
		return fmt.Errorf("%w: Connection is %q, want Upgrade", errBadUpgrade, h.Get("Connection"))
	case h.Get("Sec-Websocket-Accept") != wsframe.AcceptKey(key):
		return fmt.Errorf("%w: Sec-WebSocket-Accept does not match the key", errBadUpgrade)
	}
	return nil
}

// hasToken reports whether header name's comma-separated values include
// token, in any case.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// newChallengeKey is a Sec-WebSocket-Key: 16 random bytes in base64.
func newChallengeKey() (string, error) {
	var p [16]byte
	if _, err := rand.Read(p[:]); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(p[:]), nil
}

// hostPort is the address to connect to for u, with the scheme's
// default port when u names none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "wss" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// dialFuncs returns a backend's connect functions, for ws:// and wss://:
// connect (TCP, or the backend's Unix socket), let wrap see the socket
// (the proxy's relay takes it over later), and do TLS for wss://. They
// serve wsedge's own handshake and gorilla's Dialer (active health
// checks) alike.
func dialFuncs(connect func(ctx context.Context, network, addr string) (net.Conn, error), wrap func(net.Conn) net.Conn, tlsConfig *tls.Config) (plain, secure func(ctx context.Context, network, addr string) (net.Conn, error)) {
	plain = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := connect(ctx, network, addr)
		if err != nil || wrap == nil {
			return c, err
		}
		return wrap(c), nil
	}
	secure = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := plain(ctx, network, addr)
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
		// A WebSocket handshake is HTTP/1.1: offer nothing else.
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		return tc, nil
	}
	return plain, secure
}
