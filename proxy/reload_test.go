package proxy

import (
	"log/slog"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/wsframe"
	"github.com/wsedge/wsedge/internal/wstest"
)

// TestReadyOnlyWhileServing: a server is not ready before it serves, is
// while it serves, and is not while it drains.
func TestReadyOnlyWhileServing(t *testing.T) {
	cfg := testConfig(handlerRoute("/echo", "echo"))
	rt, err := Build(cfg, BuildDeps{Log: slog.New(slog.DiscardHandler)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	idle, err := New(cfg, rt, Deps{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Ready(); err == nil || err.Error() != "starting" {
		t.Errorf("before Serve: Ready() = %v, want starting", err)
	}
	idle.relay.Close()
	rt.Close()

	tp := startProxy(t, cfg, false)
	wstest.Eventually(t, waitLimit, func() bool { return tp.srv.Ready() == nil })
	// A client that does not answer the shutdown's close holds the drain
	// open; meanwhile the server is not ready.
	peer := tp.dialRawClient(t, "/echo")
	tp.waitConnections(t, 1)
	stopped := make(chan error, 1)
	go func() { stopped <- tp.stop() }()
	wstest.Eventually(t, waitLimit, func() bool {
		err := tp.srv.Ready()
		return err != nil && err.Error() == "draining"
	})
	peer.expectClose(wsframe.CloseGoingAway, "server shutting down")
	peer.send(true, wsframe.OpClose, closeMsg(wsframe.CloseGoingAway, ""))
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(waitLimit):
		t.Error("the drain did not end after the client answered")
	}
}
