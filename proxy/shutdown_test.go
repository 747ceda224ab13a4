package proxy

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/conftypes"
)

func TestShutdownSendsGoingAway(t *testing.T) {
	backendGot := make(chan *websocket.CloseError, 1)
	backend := closingBackend(t, backendGot)
	tp := startProxy(t, testConfig(
		backendRoute("/ws", backend.wsURL("/")),
		handlerRoute("/echo", "echo"),
	), false)
	proxied := tp.mustDial(t, "/ws")
	builtin := tp.mustDial(t, "/echo")
	tp.waitConnections(t, 2)

	clientGot := make(chan *websocket.CloseError, 2)
	for _, c := range []*websocket.Conn{proxied, builtin} {
		go func() {
			// Reading lets gorilla answer the close frame, as a browser does.
			c.SetReadDeadline(time.Now().Add(waitLimit))
			_, _, err := c.ReadMessage()
			ce, _ := err.(*websocket.CloseError)
			clientGot <- ce
		}()
	}
	stopped := make(chan error, 1)
	go func() { stopped <- tp.stop() }()

	for range 2 {
		if ce := <-clientGot; ce == nil || ce.Code != websocket.CloseGoingAway {
			t.Errorf("client got %v, want 1001", ce)
		}
	}
	if ce := <-backendGot; ce == nil || ce.Code != websocket.CloseGoingAway {
		t.Errorf("backend got %v, want 1001", ce)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("shutdown did not finish")
	}
	tp.log.waitFor(t, "shutdown complete", func(a map[string]string) bool { return a["dropped"] == "0" })
	if _, _, err := tp.dial(t, "/echo", nil); err == nil {
		t.Error("a connection was accepted after shutdown")
	}
}

func TestShutdownDropsPeersThatNeverAnswer(t *testing.T) {
	backend := startBackend(t, echoConn)
	cfg := testConfig(backendRoute("/ws", backend.wsURL("/")))
	cfg.Shutdown.DrainTimeout = conftypes.Duration(200 * time.Millisecond)
	cfg.Limits.WriteTimeout = conftypes.Duration(time.Minute) // the drain, not the close wait, must end it
	tp := startProxy(t, cfg, false)
	tp.mustDial(t, "/ws") // never reads, so never answers the 1001
	tp.waitConnections(t, 1)

	stopped := make(chan error, 1)
	go func() { stopped <- tp.stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("shutdown did not give up after drain_timeout")
	}
	tp.log.waitFor(t, "shutdown complete", func(a map[string]string) bool { return a["dropped"] == "1" })
}
