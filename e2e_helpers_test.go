package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/config"
	"github.com/wsedge/wsedge/internal/wstest"
	"github.com/wsedge/wsedge/proxy"
)

const waitLimit = 30 * time.Second

// runningApp is a wired wsedge serving on loopback listeners.
type runningApp struct {
	plainAddr, tlsAddr string // tlsAddr is "" without an https listener
	path               string // the configuration file
	app                *app
	logs               *wstest.LogBuffer
	stop               func()
}

// listenLoopback opens the two listeners a test app serves on, so their
// ports are known before the configuration (or an ACME server) needs them.
func listenLoopback(t *testing.T) proxy.Listeners {
	t.Helper()
	var ls proxy.Listeners
	var err error
	if ls.HTTP, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if ls.HTTPS, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return ls
}

// startApp parses yamlText as a configuration file in dir and serves it
// on ls as main does, until stop is called or the test ends.
func startApp(t *testing.T, dir, yamlText string, ls proxy.Listeners) *runningApp {
	t.Helper()
	path := filepath.Join(dir, "wsedge.yaml")
	if err := os.WriteFile(path, []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ra := &runningApp{plainAddr: ls.HTTP.Addr().String(), path: path, logs: &wstest.LogBuffer{}}
	if ls.HTTPS != nil {
		ra.tlsAddr = ls.HTTPS.Addr().String()
	}
	a, err := newApp(cfg, slog.New(slog.NewTextHandler(ra.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	a.configPath = path
	ra.app = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, ls, nil) }()
	var once sync.Once
	ra.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("app stopped with %v", err)
				}
			case <-time.After(waitLimit):
				t.Errorf("app did not stop")
			}
		})
	}
	t.Cleanup(func() {
		ra.stop()
		if t.Failed() {
			t.Logf("wsedge log:\n%s", ra.logs)
		}
	})
	return ra
}

// dialWSS opens wss://serverName/path through the app's TLS listener,
// trusting only roots.
func (ra *runningApp) dialWSS(t *testing.T, serverName, path string, roots *x509.CertPool) (*websocket.Conn, error) {
	t.Helper()
	d := websocket.Dialer{
		HandshakeTimeout: waitLimit,
		NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, ra.tlsAddr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: serverName},
	}
	c, _, err := d.Dial("wss://"+serverName+path, nil)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// roundTrip sends msg and expects it back.
func roundTrip(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	c.SetWriteDeadline(time.Now().Add(waitLimit))
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	_, got, err := c.ReadMessage()
	if err != nil || string(got) != msg {
		t.Fatalf("echo of %q: got %q, %v", msg, got, err)
	}
}

func servedLeaf(t *testing.T, c *websocket.Conn) *x509.Certificate {
	t.Helper()
	tc, ok := c.NetConn().(*tls.Conn)
	if !ok {
		t.Fatal(errors.New("not a TLS connection"))
	}
	return tc.ConnectionState().PeerCertificates[0]
}
