package proxy

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/internal/hophdr"
	"github.com/wsedge/wsedge/upstream"
)

// proxyWebSocket dials the backend first and upgrades the client only once
// the backend has said 101, so a backend's refusal reaches the client as
// the HTTP answer it is (a 403 stays a 403). The backend's 101 is checked
// against the client's offers (checkBackendAnswer) and repeated to the
// client (upgradeClient); from then on frames are relayed on the raw
// connections.
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
	extensions := extensionOffer(r, rt)
	up, resp, err := pool.DialWebSocket(ctx, upstream.DialRequest{
		Params:       params,
		RawQuery:     r.URL.RawQuery,
		Header:       backendRequestHeader(r),
		Subprotocols: offered,
		Extensions:   extensions,
		ClientIP:     clientIP(r),
	})
	cancel()
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
	deflate, err := checkBackendAnswer(resp.Header, offered, extensions)
	if err != nil {
		up.NetConn.Close()
		up.Release()
		s.writeError(w, r, rt, err, "backend", up.URL)
		return
	}
	clientConn, clientEarly, err := s.upgradeClient(w, r, upgradeResponseHeader(resp.Header))
	if err != nil {
		up.NetConn.Close()
		up.Release()
		s.log.Debug("client upgrade failed", "route", label, "client", r.RemoteAddr, "err", err)
		return
	}
	if st, ok := clientConn.(*h2Stream); ok {
		defer st.wait() // the stream lives as long as this handler
	}
	s.log.Info("websocket opened", append([]any{"route", label, "backend", up.URL, "client", r.RemoteAddr,
		"subprotocol", resp.Header.Get("Sec-Websocket-Protocol"), "compressed", deflate,
		"handshake", time.Since(start).Round(time.Microsecond)}, queryAttrs(r)...)...)
	ss := s.newSession(rt, r.RemoteAddr, up, deflate)
	ss.ticket, tk = tk, nil
	ss.start(clientConn, clientEarly)
	s.metrics.upgraded(rt, start)
}

// relayRefusal sends the client the backend's non-101 answer: its status,
// end-to-end headers and the part of its body the handshake kept (1 KiB).
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
