package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// RunHealthChecks checks every backend each interval until ctx is done,
// and returns only when its checks have stopped. Without a health section
// it returns at once. The pool's owner runs it and waits for it.
func (p *Pool) RunHealthChecks(ctx context.Context) {
	if p.health == nil {
		return
	}
	t := time.NewTicker(p.health.interval())
	defer t.Stop()
	for {
		p.checkAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Pool) checkAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, b := range p.backends {
		wg.Go(func() { b.check(ctx, p.health) })
	}
	wg.Wait()
}

// check runs one active check and records the result; a change is logged.
func (b *Backend) check(ctx context.Context, h *HealthConfig) {
	cctx, cancel := context.WithTimeout(ctx, h.timeout())
	defer cancel()
	var err error
	if h.WebSocket {
		err = b.checkWebSocket(cctx, h.Path)
	} else {
		err = b.checkHTTP(cctx, h.Path)
	}
	if ctx.Err() != nil {
		return // shutting down: the result means nothing
	}
	if err != nil {
		if !b.checkFailed.Swap(true) {
			b.log.Warn("backend failed its health check", "backend", b.String(), "err", err)
		}
		return
	}
	if b.checkFailed.Swap(false) {
		b.log.Info("backend passed its health check", "backend", b.String())
	}
	b.markUp()
}

// healthURL is path on the backend's host, with the given scheme family.
func (b *Backend) healthURL(path string, forHTTP bool) string {
	scheme := b.url.scheme
	if forHTTP {
		scheme = map[string]string{"ws": "http", "wss": "https"}[scheme]
	}
	return scheme + "://" + b.url.host + path
}

// checkHTTP passes on a 2xx or 3xx answer to a GET.
func (b *Backend) checkHTTP(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.healthURL(path, true), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "wsedge-health-check")
	resp, err := b.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("health check answered %s", resp.Status)
	}
	return nil
}

// checkWebSocket passes when a WebSocket handshake gets 101; the
// connection is then closed politely.
func (b *Backend) checkWebSocket(ctx context.Context, path string) error {
	h := http.Header{"User-Agent": {"wsedge-health-check"}}
	ws, resp, err := b.dialer.DialContext(ctx, b.healthURL(path, false), h)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("health check answered %s", resp.Status)
		}
		return err
	}
	deadline, _ := ctx.Deadline()
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "health check"), deadline)
	ws.Close()
	return nil
}
