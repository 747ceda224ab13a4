package upstream

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
)

// Env is what every target needs from the process that runs it. The proxy
// fills it once from its own configuration.
type Env struct {
	// Log receives the targets' log lines. Required.
	Log *slog.Logger
	// Dialer is the template for backend dials: buffer sizes, write buffer
	// pool and handshake timeout. Each backend copies it.
	Dialer websocket.Dialer
	// DialTimeout bounds one TCP (or Unix socket) connect to a backend.
	DialTimeout time.Duration
	// Transport is the template for plain HTTP requests to backends; each
	// backend clones it. Nil: a zero http.Transport.
	Transport *http.Transport
	// WriteTimeout bounds every write a built-in handler makes; a client
	// that does not take a frame within it is closed. Zero: no limit.
	WriteTimeout time.Duration
	// WrapConn, if set, gets every new WebSocket connection to a backend
	// (TCP or Unix socket, before TLS) and returns the connection to use:
	// the proxy's relay wraps sockets it takes over after the handshake.
	WrapConn func(net.Conn) net.Conn
	// TCPKeepAlive is the TCP keepalive period of connections to
	// backends, as net.Dialer's KeepAlive: zero for Go's default, negative
	// to disable.
	TCPKeepAlive time.Duration
}

// Target is what one route points at: a backend pool, or a built-in.
// Exactly one of Pool, Handler and Page is set.
type Target struct {
	// Pool is set for backend routes: WebSocket requests are proxied to one
	// of its backends, plain HTTP requests too.
	Pool *Pool
	// Handler is set for built-ins that serve WebSocket clients (echo,
	// broadcast); plain requests on such a route get 426 Upgrade Required.
	Handler Handler
	// Page is set for built-ins that answer plain HTTP (demo).
	Page http.Handler
	// closer releases what the target holds open (tail's root directory).
	closer io.Closer
}

// Close releases what the target holds open. Connections it served are
// not affected.
func (t *Target) Close() error {
	if t.closer == nil {
		return nil
	}
	return t.closer.Close()
}

// Handler is a built-in endpoint for WebSocket clients.
type Handler interface {
	// Open accepts or refuses a request before the upgrade, so a refusal is
	// still an HTTP status (an error wrapping ErrNotFound is a 404).
	Open(r *http.Request, params httprouter.Params) (Session, error)
}

// Session serves one upgraded client connection.
type Session interface {
	// Serve owns conn's reads and writes until the connection ends, and
	// returns only after every goroutine it started has stopped. The proxy
	// has already set the read limit and keepalive on conn; it closes conn
	// after Serve returns, and may close it earlier (shutdown, dead peer),
	// which makes Serve's reads fail.
	Serve(conn *websocket.Conn)
}

// New builds the target a route's Config describes.
func New(cfg Config, env Env) (*Target, error) {
	if cfg.hasBackends() {
		pool, err := newPool(cfg, env)
		if err != nil {
			return nil, err
		}
		return &Target{Pool: pool}, nil
	}
	return handlerFactories[cfg.Handler](cfg, env)
}
