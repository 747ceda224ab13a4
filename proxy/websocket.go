package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/internal/hophdr"
	"github.com/wsedge/wsedge/upstream"
)

// proxyWebSocket dials the backend first and upgrades the client only once
// the backend has said 101, so a backend's refusal reaches the client as
// the HTTP answer it is (a 403 stays a 403).
func (s *Server) proxyWebSocket(w http.ResponseWriter, r *http.Request, rt *route, pool *upstream.Pool, params httprouter.Params) {
	start := time.Now()
	label := rt.Label()
	admitted, tk, err := s.admitWebSocket(r, rt)
	if err != nil {
		s.writeError(w, r, rt, err)
		return
	}
	r = admitted
	defer func() { s.tracker.release(tk) }() // nil once a session carries it
	ctx, cancel := context.WithTimeout(r.Context(), s.settings.Load().handshakeTimeout)
	offered := websocket.Subprotocols(r)
	up, resp, err := pool.DialWebSocket(ctx, upstream.DialRequest{
		Params:       params,
		RawQuery:     r.URL.RawQuery,
		Header:       backendRequestHeader(r),
		Subprotocols: offered,
		ClientIP:     clientIP(r),
	})
	cancel()
	if err == nil {
		if chosen := resp.Header.Get("Sec-WebSocket-Protocol"); chosen != "" && !slices.Contains(offered, chosen) {
			// RFC 6455 section 4.1: the client must fail such a
			// connection; it never gets one.
			up.NetConn.Close()
			up.Release()
			err = fmt.Errorf("%w: %q", errBackendSubprotocol, chosen)
		}
	}
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			s.relayRefusal(w, r, resp)
			s.metrics.relayedRefusal(rt, resp.StatusCode)
			s.log.Info("backend refused websocket", "route", label, "status", resp.StatusCode, "client", r.RemoteAddr, "err", err)
			return
		}
		s.writeError(w, r, rt, err)
		return
	}
	answer := upgradeResponseHeader(resp.Header)
	for k, vv := range w.Header() { // wsedge's own (Strict-Transport-Security)
		answer[k] = vv
	}
	clientWS, err := s.upgrader.Upgrade(w, r, answer)
	if err != nil {
		// gorilla has answered the client.
		up.NetConn.Close()
		up.Release()
		s.log.Debug("client upgrade failed", "route", label, "client", r.RemoteAddr, "err", err)
		return
	}
	s.log.Info("websocket opened", append([]any{"route", label, "backend", up.URL, "client", r.RemoteAddr,
		"subprotocol", clientWS.Subprotocol(), "handshake", time.Since(start).Round(time.Microsecond)}, queryAttrs(r)...)...)
	// From here frames are relayed on the raw connections: gorilla's Conn
	// (which has read nothing past the request) is dropped.
	ss := s.newSession(rt, r.RemoteAddr, up)
	ss.ticket, tk = tk, nil
	ss.start(clientWS.NetConn())
	s.metrics.upgraded(rt, start)
}

// relayRefusal sends the client the backend's non-101 answer: its status,
// end-to-end headers and the part of its body gorilla kept (1 KiB).
func (s *Server) relayRefusal(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	h := w.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	hophdr.Remove(h)
	delete(h, "Content-Length") // the body may have been cut short
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		io.Copy(w, resp.Body)
	}
}
