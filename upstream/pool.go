package upstream

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
)

// Backend is one server a pool can send connections to.
type Backend struct {
	url *URLTemplate
	// active counts the proxied connections open to this backend right now.
	active atomic.Int64
}

// String returns the backend's URL template, for logs.
func (b *Backend) String() string { return b.url.String() }

// Active returns the number of proxied connections open to b.
func (b *Backend) Active() int64 { return b.active.Load() }

// Pool is the set of backends a route points at.
type Pool struct {
	backends  []*Backend
	dialer    websocket.Dialer
	transport *http.Transport
}

func newPool(cfg Config, env Env) (*Pool, error) {
	t, err := ParseURLTemplate(cfg.Backend)
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	return &Pool{
		backends:  []*Backend{{url: t}},
		dialer:    env.Dialer,
		transport: env.Transport,
	}, nil
}

// Transport returns the transport that carries plain HTTP requests to the
// pool's backends.
func (p *Pool) Transport() http.RoundTripper { return p.transport }

// DialRequest is what a pool needs to know about a client's handshake.
type DialRequest struct {
	// Params are the route parameters the request matched.
	Params httprouter.Params
	// RawQuery is the client's query string, appended to the backend URL.
	RawQuery string
	// Header is sent to the backend as is: the caller has already removed
	// hop-by-hop and Sec-WebSocket-* headers and set X-Forwarded-*. A Host
	// entry sets the Host the backend sees.
	Header http.Header
	// Subprotocols are the client's offered subprotocols, in its order.
	Subprotocols []string
}

// Conn is an open WebSocket connection to one backend of a pool.
type Conn struct {
	*websocket.Conn
	// Backend is the backend the connection went to.
	Backend *Backend
	// URL is the backend URL dialled, without its query string (which may
	// carry a client's token), for logs.
	URL      string
	released atomic.Bool
}

// Release tells the pool the connection is over; call it once the
// connection is closed. Calling it again does nothing.
func (c *Conn) Release() {
	if c.released.CompareAndSwap(false, true) {
		c.Backend.active.Add(-1)
	}
}

// DialWebSocket completes a WebSocket handshake with one of the pool's
// backends. When the backend answers with anything but 101, the returned
// response carries its status, headers and (the first KiB of) its body, so
// the caller can relay it to the client.
func (p *Pool) DialWebSocket(ctx context.Context, req DialRequest) (*Conn, *http.Response, error) {
	b := p.backends[0]
	target, err := b.url.Expand(req.Params, req.RawQuery, false)
	if err != nil {
		return nil, nil, err
	}
	logURL := withoutQuery(target)
	d := p.dialer
	d.Subprotocols = req.Subprotocols
	b.active.Add(1)
	ws, resp, err := d.DialContext(ctx, target, req.Header)
	if err != nil {
		b.active.Add(-1)
		return nil, resp, fmt.Errorf("dial backend %s: %w", logURL, err)
	}
	return &Conn{Conn: ws, Backend: b, URL: logURL}, resp, nil
}

// HTTPURL returns the http:// or https:// URL a plain request on the route
// goes to, and the backend chosen.
func (p *Pool) HTTPURL(params httprouter.Params, rawQuery string) (string, *Backend, error) {
	b := p.backends[0]
	target, err := b.url.Expand(params, rawQuery, true)
	return target, b, err
}

func withoutQuery(u string) string {
	s, _, _ := strings.Cut(u, "?")
	return s
}
