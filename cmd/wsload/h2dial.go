//lint:file-ignore SA1019 net/http's Transport refuses the :protocol pseudo-header an extended CONNECT (RFC 8441) needs in Go 1.26; x/net/http2's, deprecated in its favour, is the one Go client that sends it.

// WebSockets over HTTP/2 (RFC 8441) for handshake mode (-h2-conns): the
// workers open their WebSockets as extended CONNECT streams on a fixed
// set of TLS connections, as a browser does once a server offers h2, so
// that the target pays one TLS handshake per connection instead of one
// per WebSocket.
//
// The client is x/net's http2.ClientConn on a TLS connection dialled
// here: net/http's Transport refuses the :protocol pseudo-header a
// caller sets, and dialling ourselves fixes the number of connections
// (the Transport's pool would open more whenever it liked).

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/wsedge/wsedge/internal/wsframe"
)

// h2Dialer opens WebSockets as streams of its TLS connections, one slot
// per connection; a worker uses slot worker % len(slots). It is safe for
// concurrent use.
type h2Dialer struct {
	target  string // the https:// form of -url, the CONNECT's target
	addr    string // host:port to dial
	tls     *tls.Config
	dialTCP func(ctx context.Context, network, addr string) (net.Conn, error)
	tr      *http2.Transport
	slots   []*h2Slot

	opened atomic.Int64 // TLS connections opened, for the summary
}

// h2Slot is one of the dialer's TLS connections, dialled on first use and
// again when the server has made it unusable (GOAWAY, a broken
// connection).
type h2Slot struct {
	mu  sync.Mutex
	cc  *http2.ClientConn // nil until dialled
	all []*http2.ClientConn
}

func newH2Dialer(o *options) (*h2Dialer, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, fmt.Errorf("-url: %w", err)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	u.Scheme = "https"
	conf := o.tls.Clone()
	// Only h2: a server that does not offer it cannot be measured here,
	// and must not be measured over HTTP/1.1 by mistake.
	conf.NextProtos = []string{"h2"}
	if conf.ServerName == "" {
		conf.ServerName = u.Hostname()
	}
	d := &h2Dialer{
		target:  u.String(),
		addr:    addr,
		tls:     conf,
		dialTCP: (&net.Dialer{}).DialContext,
		tr: &http2.Transport{
			// With the server's stream limit reached, a request waits
			// for a stream rather than making the connection look
			// unusable, which would open another.
			StrictMaxConcurrentStreams: true,
		},
		slots: make([]*h2Slot, o.h2Conns),
	}
	if len(o.localAddrs) > 0 {
		d.dialTCP = newSourceRotation(o.localAddrs).dialContext
	}
	for i := range d.slots {
		d.slots[i] = &h2Slot{}
	}
	return d, nil
}

// handshaker is worker's way of opening a WebSocket (see handshakeFunc).
func (d *h2Dialer) handshaker(worker int) handshakeFunc {
	slot := d.slots[worker%len(d.slots)]
	return func(ctx context.Context) (func(), error) {
		s, err := d.open(ctx, slot)
		if err != nil {
			return nil, err
		}
		return s.closeAfterHandshake, nil
	}
}

// close closes every TLS connection the dialer opened; the streams on
// them must have been closed.
func (d *h2Dialer) close() {
	for _, s := range d.slots {
		s.mu.Lock()
		for _, cc := range s.all {
			cc.Close()
		}
		s.mu.Unlock()
	}
}

// clientConn returns the slot's connection, dialling it first if it has
// none or the one it has takes no more streams. Workers sharing the slot
// wait for the dial.
func (s *h2Slot) clientConn(ctx context.Context, d *h2Dialer) (*http2.ClientConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cc != nil && s.cc.CanTakeNewRequest() {
		return s.cc, nil
	}
	cc, err := d.dialConn(ctx)
	if err != nil {
		return nil, err
	}
	s.cc = cc
	s.all = append(s.all, cc)
	return cc, nil
}

// dialConn opens one TLS connection that negotiated h2 and starts an
// HTTP/2 client on it.
func (d *h2Dialer) dialConn(ctx context.Context) (*http2.ClientConn, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	raw, err := d.dialTCP(ctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", d.addr, err)
	}
	conn := tls.Client(raw, d.tls)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", d.addr, err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		conn.Close()
		return nil, fmt.Errorf("%s does not offer HTTP/2 (ALPN chose %q)", d.addr, p)
	}
	cc, err := d.tr.NewClientConn(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("HTTP/2 connection to %s: %w", d.addr, err)
	}
	d.opened.Add(1)
	return cc, nil
}

// h2Socket is an open WebSocket stream, owned by the worker that opened
// it until closeAfterHandshake returns.
type h2Socket struct {
	out    *io.PipeWriter // the request body: frames to the server
	body   io.ReadCloser  // the response body: frames from the server
	cancel context.CancelFunc
}

// open sends an extended CONNECT (RFC 8441 section 4) on the slot's
// connection and waits for its 200, within ctx and handshakeTimeout. The
// stream outlives ctx: the run's end must not cut the closing handshake
// of a WebSocket it counted.
func (d *h2Dialer) open(ctx context.Context, slot *h2Slot) (*h2Socket, error) {
	cc, err := slot.clientConn(ctx, d)
	if err != nil {
		return nil, err
	}
	streamCtx, cancel := context.WithCancel(context.Background())
	body, out := io.Pipe()
	req, err := http.NewRequestWithContext(streamCtx, http.MethodConnect, d.target, body)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("CONNECT %s: %w", d.target, err)
	}
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")

	handshakeCtx, stopTimeout := context.WithTimeout(ctx, handshakeTimeout)
	defer stopTimeout()
	stopCancel := context.AfterFunc(handshakeCtx, cancel)
	resp, err := cc.RoundTrip(req)
	if !stopCancel() { // the handshake was cut: cancel has reset the stream
		if err == nil {
			resp.Body.Close()
		}
		out.Close()
		return nil, fmt.Errorf("CONNECT %s: %w", d.target, context.Cause(handshakeCtx))
	}
	if err != nil {
		cancel()
		out.Close()
		return nil, fmt.Errorf("CONNECT %s: %w", d.target, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		out.Close()
		return nil, fmt.Errorf("handshake with %s over HTTP/2: HTTP %s", d.target, resp.Status)
	}
	return &h2Socket{out: out, body: resp.Body, cancel: cancel}, nil
}

// closeAfterHandshake closes the WebSocket as closeAfterHandshake does an
// HTTP/1.1 one: a masked close frame 1000, then up to closeWait for the
// server's close frame and the end of its side of the stream; then the
// client ends its side and the stream is released.
func (s *h2Socket) closeAfterHandshake() {
	expire := time.AfterFunc(closeWait, s.cancel) // ends a Read or Write below
	defer func() {
		expire.Stop()
		s.out.Close()
		s.body.Close()
		s.cancel()
	}()
	if _, err := s.out.Write(h2CloseFrame); err != nil {
		return
	}
	r := bufio.NewReaderSize(s.body, 256)
	if err := skipToClose(r); err != nil {
		return
	}
	// Our side ends (END_STREAM), as the server's close frame answered
	// ours; the server then ends its own.
	s.out.Close()
	_, _ = io.Copy(io.Discard, r)
}

// h2CloseFrame is a close frame with status 1000, masked as a client's
// frames must be (RFC 6455 section 5.3), over HTTP/2 too. A fixed key is
// allowed: masking guards intermediaries against frames a script
// crafted, not something a load generator has to fear. Only read.
var h2CloseFrame = wsframe.AppendControl(nil, wsframe.OpClose,
	wsframe.AppendClosePayload(nil, wsframe.CloseNormal, ""), true, [4]byte{0x6d, 0x61, 0x73, 0x6b})

// errNoClose is a stream that ended before the server's close frame.
var errNoClose = errors.New("stream ended before the server's close frame")

// skipToClose reads frames from r until a close frame, which it consumes.
func skipToClose(r *bufio.Reader) error {
	for {
		first, err := r.Peek(2)
		if err != nil {
			return errNoCloseOr(err)
		}
		raw, err := r.Peek(wsframe.HeaderLen(first[1]))
		if err != nil {
			return errNoCloseOr(err)
		}
		h, n, err := wsframe.ParseHeader(raw)
		if err != nil {
			return err
		}
		if _, err := r.Discard(n); err != nil {
			return errNoCloseOr(err)
		}
		if _, err := io.CopyN(io.Discard, r, int64(h.Length)); err != nil {
			return errNoCloseOr(err)
		}
		if h.Op == wsframe.OpClose {
			return nil
		}
	}
}

func errNoCloseOr(err error) error {
	if errors.Is(err, io.EOF) {
		return errNoClose
	}
	return err
}
