package upstream

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// Env is what every target needs from the process that runs it. The proxy
// fills it once from its own configuration.
type Env struct {
	// Log receives the targets' log lines. Required.
	Log *slog.Logger
	// Dialer is the template for backend dials. Each backend copies it:
	// its HandshakeTimeout bounds every handshake (on top of the caller's
	// context), its ReadBufferSize sizes the reader of the backend's
	// answer (0: 4 KiB), and active WebSocket checks dial with it.
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
	// MaxDials bounds the WebSocket dials in progress to each backend
	// (limits.max_backend_dials): a handshake waits up to DialTimeout for
	// one to finish, as HAProxy queues for a server's maxconn, then gives
	// up with ErrDialsBusy. Zero: no bound.
	MaxDials int
	// Rooms carries a broadcast route's rooms to the other instances of
	// a cluster (issue 12); the proxy gives each route its own. Nil: the
	// rooms are this instance's alone.
	Rooms RoomBus
}

// Kind is what a route points at, as its Config says.
type Kind int

const (
	// KindBackends: a pool of backends (NewPool).
	KindBackends Kind = iota
	// KindHandler: a built-in handler for WebSocket clients (NewHandler):
	// echo, broadcast, tail.
	KindHandler
	// KindPage: a built-in that answers plain HTTP (NewPage): demo.
	KindPage
)

// Kind says which constructor builds what a validated Config points at.
func (c *Config) Kind() Kind {
	switch {
	case c.hasBackends():
		return KindBackends
	case pageFactories[c.Handler] != nil:
		return KindPage
	}
	return KindHandler
}

// Handler is a built-in endpoint for WebSocket clients.
type Handler interface {
	// Open accepts or refuses a request before the upgrade, so a refusal is
	// still an HTTP status (an error wrapping ErrNotFound is a 404).
	Open(r *http.Request, params httprouter.Params) (Session, error)
	// Close releases what the handler holds open (tail's root directory);
	// connections it serves are not affected.
	io.Closer
}

// Session serves one upgraded client connection.
type Session interface {
	// Serve owns conn's reads and writes until the connection ends, and
	// returns only after every goroutine it started has stopped. The proxy
	// has already set the read limit and keepalive on conn; it closes conn
	// after Serve returns, and may close it earlier (shutdown, dead peer),
	// which makes Serve's reads fail.
	Serve(conn *websocket.Conn)
	// Abandon releases what Open acquired, for a session whose upgrade
	// failed: Serve will not run.
	Abandon()
}

// handlerFactories build the built-in WebSocket handlers, by the name a
// route uses. Errors are conftypes.FieldErrors relative to the route.
var handlerFactories = map[string]func(Config, Env) (Handler, error){
	"echo":      func(_ Config, env Env) (Handler, error) { return newEcho(env), nil },
	"broadcast": func(cfg Config, env Env) (Handler, error) { return newBroadcast(cfg, env), nil },
	"tail":      newTail,
}

// pageFactories build the built-ins that answer plain HTTP.
var pageFactories = map[string]func() http.Handler{
	"demo": newDemoPage,
}

// NewHandler builds the built-in handler a KindHandler Config names. It
// does the configuration's I/O (tail opens its root); a failure is a
// conftypes.FieldError naming the field, relative to the route.
func NewHandler(cfg Config, env Env) (Handler, error) {
	build := handlerFactories[cfg.Handler]
	if build == nil {
		return nil, conftypes.Field("handler", fmt.Errorf("%q is not a WebSocket handler", cfg.Handler))
	}
	return build(cfg, env)
}

// NewPage builds the built-in page a KindPage Config names.
func NewPage(cfg Config) (http.Handler, error) {
	build := pageFactories[cfg.Handler]
	if build == nil {
		return nil, conftypes.Field("handler", errors.New("not a page"))
	}
	return build(), nil
}
