package proxy

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/wsedge/wsedge/internal/wsframe"
)

// upgradeClient completes a client's WebSocket handshake over HTTP/1.1
// (RFC 6455 section 4.2.2), once the backend has said 101 and the
// request has passed checkClientHandshake: it takes the connection from
// net/http and writes the 101 itself, with answer's headers (the
// subprotocol and extensions the backend chose, its end-to-end headers)
// and wsedge's own from w.Header() (Strict-Transport-Security).
// gorilla's Upgrader would refuse the backend's Sec-WebSocket-Extensions.
//
// It returns the connection and the bytes net/http had already read
// past the request: frames a client sent right behind its handshake,
// which belong to the connection. On error the client has had a 500 or
// its connection is closed. Over HTTP/2 (RFC 8441) the extended CONNECT
// gets a 200 with the same headers, and the connection is the stream
// (answerExtendedConnect); its handler must then wait for it (see
// h2Stream.wait).
func (s *Server) upgradeClient(w http.ResponseWriter, r *http.Request, answer http.Header) (net.Conn, []byte, error) {
	if isExtendedConnect(r) {
		if err := answerExtendedConnect(w, answer); err != nil {
			return nil, nil, err
		}
		return newH2Stream(w, r), nil, nil
	}
	head := upgradeResponse(r.Header.Get("Sec-Websocket-Key"), answer, w.Header())
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "internal server error: the connection cannot be upgraded", http.StatusInternalServerError)
		return nil, nil, fmt.Errorf("upgrade client: %w", err)
	}
	var early []byte
	if n := brw.Reader.Buffered(); n > 0 {
		p, _ := brw.Reader.Peek(n)
		early = bytes.Clone(p)
	}
	// The request's deadlines were net/http's; the 101 gets the
	// handshake's, and the relay sets its own.
	conn.SetDeadline(time.Time{})
	conn.SetWriteDeadline(time.Now().Add(s.settings.Load().handshakeTimeout))
	if _, err := conn.Write(head); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("upgrade client: write 101: %w", err)
	}
	conn.SetWriteDeadline(time.Time{})
	return conn, early, nil
}

// upgradeResponse is the 101 that answers a handshake whose
// Sec-WebSocket-Key is key: the handshake's own headers, the
// subprotocol and extensions in answer (spelled as RFC 6455 spells
// them), then answer's other headers and own's, own's winning. Values
// are written as http.Header.Write writes them (no line breaks).
func upgradeResponse(key string, answer, own http.Header) []byte {
	h := answer.Clone()
	for k, vv := range own {
		h[k] = vv
	}
	ws := http.Header{
		"Upgrade":              {"websocket"},
		"Connection":           {"Upgrade"},
		"Sec-WebSocket-Accept": {wsframe.AcceptKey(key)},
	}
	for _, k := range []string{"Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"} {
		if vv := h.Values(k); len(vv) > 0 {
			ws[k] = vv
		}
	}
	for _, k := range []string{"Upgrade", "Connection", "Sec-Websocket-Accept", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions"} {
		delete(h, k)
	}
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	ws.Write(&b)
	h.Write(&b)
	b.WriteString("\r\n")
	return b.Bytes()
}

// answerExtendedConnect accepts a WebSocket over HTTP/2 (RFC 8441 section
// 5): a 200 carrying answer's headers and wsedge's own (which win),
// flushed; the stream is the connection from then on. answer holds
// end-to-end headers only (upgradeResponseHeader, or what gorilla chose:
// see h2Handshake): HTTP/2 has no Upgrade, Connection or
// Sec-WebSocket-Accept.
func answerExtendedConnect(w http.ResponseWriter, answer http.Header) error {
	h := w.Header()
	for k, vv := range answer {
		if _, own := h[k]; !own {
			h[k] = vv
		}
	}
	w.WriteHeader(http.StatusOK)
	if err := http.NewResponseController(w).Flush(); err != nil {
		return fmt.Errorf("upgrade client over HTTP/2: %w", err)
	}
	return nil
}
