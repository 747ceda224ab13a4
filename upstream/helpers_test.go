package upstream

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
)

const waitLimit = 10 * time.Second

func testEnv() Env {
	return Env{
		Log:          slog.New(slog.DiscardHandler),
		Dialer:       websocket.Dialer{HandshakeTimeout: 5 * time.Second},
		DialTimeout:  2 * time.Second,
		Transport:    &http.Transport{},
		WriteTimeout: 5 * time.Second,
	}
}

// idBackend is a WebSocket server that names itself in an X-Backend header
// of its 101 answer and holds every connection open until the client
// closes it. It answers GET /healthz with 200.
type idBackend struct {
	id  string
	srv *httptest.Server
}

func startIDBackend(t *testing.T, id string) *idBackend {
	t.Helper()
	return startIDBackendOn(t, id, listen(t, "tcp", "127.0.0.1:0"))
}

func startIDBackendOn(t *testing.T, id string, ln net.Listener) *idBackend {
	t.Helper()
	b := &idBackend{id: id}
	var up websocket.Upgrader
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !websocket.IsWebSocketUpgrade(r) {
			w.Header().Set("X-Backend", id)
			w.Write([]byte("ok " + r.URL.Path))
			return
		}
		c, err := up.Upgrade(w, r, http.Header{"X-Backend": {id}})
		if err != nil {
			return
		}
		defer c.Close()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	b.srv.Listener.Close()
	b.srv.Listener = ln
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	return b
}

func (b *idBackend) addr() string { return b.srv.Listener.Addr().String() }
func (b *idBackend) url() string  { return "ws://" + b.addr() + "/" }

func listen(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func newTestPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	p, err := NewPool(cfg, testEnv(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// dial opens one connection through the pool and returns it with the id
// of the backend that took it.
func dial(t *testing.T, p *Pool, params httprouter.Params) (*Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, resp, err := p.DialWebSocket(ctx, DialRequest{Params: params, Header: http.Header{}})
	if err != nil {
		t.Fatalf("DialWebSocket: %v", err)
	}
	t.Cleanup(func() { closeConn(c) })
	return c, resp.Header.Get("X-Backend")
}

func closeConn(c *Conn) {
	c.NetConn.Close()
	c.Release()
}

// counter is a concurrency-safe tally.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[k]++
}
