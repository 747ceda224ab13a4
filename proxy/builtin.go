package proxy

import (
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/routes"
	"github.com/wsedge/wsedge/upstream"
)

// builtinConn is a client connection served by a built-in handler.
type builtinConn struct {
	srv      *Server
	conn     *websocket.Conn
	ka       *keepalive
	deadline closeDeadline
}

// serveBuiltin lets the handler refuse the request before the upgrade
// (a tail of a missing file is a 404), then hands it the connection.
func (s *Server) serveBuiltin(w http.ResponseWriter, r *http.Request, route *routes.Matched, params httprouter.Params) {
	label := route.Route.Label()
	if err := checkClientHandshake(r); err != nil {
		s.writeError(w, r, err, "route", label)
		return
	}
	if !s.tracker.accepting() {
		s.writeError(w, r, errDraining, "route", label)
		return
	}
	session, err := route.Target.Handler.Open(r, params)
	if err != nil {
		s.writeError(w, r, err, "route", label)
		return
	}
	conn, err := s.builtinUpgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("client upgrade failed", "route", label, "client", r.RemoteAddr, "err", err)
		return
	}
	s.prepareConn(conn)
	bc := &builtinConn{srv: s, conn: conn, ka: newKeepalive(conn, s.cfg.Keepalive, s.closeWait)}
	if !s.tracker.add(bc) {
		bc.goAway()
		conn.Close()
		return
	}
	// Served on a goroutine of its own, for the reason session.start
	// gives; the tracker owns it.
	go bc.serve(session, label, r.RemoteAddr)
}

func (bc *builtinConn) serve(session upstream.Session, route, client string) {
	defer bc.srv.tracker.done(bc)
	started := time.Now()
	bc.ka.start()
	session.Serve(bc.conn)
	bc.deadline.stop()
	bc.ka.stop()
	bc.conn.Close()
	bc.srv.log.Info("websocket closed", "route", route, "client", client,
		"duration", time.Since(started).Round(time.Millisecond), "ping_timeout", bc.ka.timedOut())
}

// goAway sends 1001 Going Away; the handler's read ends with the client's
// answer, or the deadline drops the connection.
func (bc *builtinConn) goAway() {
	bc.deadline.arm(bc.srv.closeWait, bc.forceClose)
	payload := closePayload(closeShutdown, "server shutting down")
	if err := bc.conn.WriteControl(websocket.CloseMessage, payload, time.Now().Add(bc.srv.closeWait)); err != nil {
		bc.conn.Close()
	}
}

func (bc *builtinConn) forceClose() { bc.conn.Close() }
