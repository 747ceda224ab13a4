package wsconform

import (
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/wsframe"
)

// TestServerPingsAreAnsweredNotCounted: a relay may add keepalive pings;
// the client answers them and they change no verdict.
func TestServerPingsAreAnsweredNotCounted(t *testing.T) {
	t.Parallel()
	pongs := make(chan string, 1)
	srv := startServer(t, func(c *websocket.Conn) {
		c.SetPongHandler(func(data string) error {
			select {
			case pongs <- data:
			default:
			}
			return nil
		})
		if err := c.WriteControl(websocket.PingMessage, []byte("keepalive"), time.Now().Add(handlerWait)); err != nil {
			t.Errorf("server ping: %v", err)
			return
		}
		streamEcho(c)
	})
	r := runCases(t, srv.url, pick(t, "1.1.2"))[0]
	if r.Verdict != VerdictOK || r.CloseVerdict != CloseOK {
		t.Errorf("got %s/%s, want OK/OK: %v", r.Verdict, r.CloseVerdict, r.Notes)
	}
	if r.Observed.ServerPings != 1 {
		t.Errorf("got %d server pings, want 1", r.Observed.ServerPings)
	}
	select {
	case got := <-pongs:
		if got != "keepalive" {
			t.Errorf("server got pong %q, want %q", got, "keepalive")
		}
	case <-time.After(handlerWait):
		t.Errorf("server got no pong within %v", handlerWait)
	}
}

// TestServerViolationFailsTheConnection: a masked frame from the server
// breaks RFC 6455 section 5.1; the client must fail the connection with
// 1002 and say why.
func TestServerViolationFailsTheConnection(t *testing.T) {
	t.Parallel()
	clientClose := make(chan *CloseFrame, 1)
	masked, err := Frame{Fin: true, Opcode: OpText, Payload: []byte("masked by a server")}.wire()
	if err != nil {
		t.Fatal(err)
	}
	addr := rawServer(t, func(c net.Conn) {
		br, err := rawUpgrade(c, wsframe.AcceptKey, masked)
		if err != nil {
			t.Errorf("server: %v", err)
			return
		}
		for {
			f, err := readFrame(br, 1<<20)
			if err != nil {
				t.Errorf("server: no close from the client: %v", err)
				return
			}
			if f.opcode == OpClose {
				cf, _ := parseClose(f.payload)
				clientClose <- &cf
				reply := Frame{Fin: true, Opcode: OpClose, Payload: f.payload, Unmasked: true}.appendWire(nil, [4]byte{})
				c.Write(reply)
				return
			}
		}
	})
	c := echoCase("violation", "wait for a message", "", echoWait, true, []Event{MessageEvent(false, []byte("x"))},
		Send(textFrame([]byte("x"))))
	r := runCases(t, "ws://"+addr, []Case{c})[0]
	o := r.Observed
	if o.Violation == "" || !o.ClosedByMe || !o.FailedByMe {
		t.Errorf("got violation %q closedByMe %v failedByMe %v, want a violation and the client failing the connection",
			o.Violation, o.ClosedByMe, o.FailedByMe)
	}
	if len(o.Events) != 0 {
		t.Errorf("got events %v, want the masked frame ignored", o.Events)
	}
	select {
	case cf := <-clientClose:
		if !cf.HasCode || cf.Code != codeProtocolError {
			t.Errorf("client closed with %v, want 1002", cf)
		}
	case <-time.After(handlerWait):
		t.Errorf("no close from the client within %v", handlerWait)
	}
}

// TestServerThatNeverCloses: the client must not wait forever for a
// server that answers nothing; it drops TCP after its close timeout.
func TestServerThatNeverCloses(t *testing.T) {
	t.Parallel()
	addr := rawServer(t, func(c net.Conn) {
		br, err := rawUpgrade(c, wsframe.AcceptKey, nil)
		if err != nil {
			t.Errorf("server: %v", err)
			return
		}
		for { // read and ignore everything
			if _, err := readFrame(br, 1<<20); err != nil {
				return
			}
		}
	})
	start := time.Now()
	r := runCases(t, "ws://"+addr, pick(t, "7.3.3"))[0]
	o := r.Observed
	if !o.DroppedByMe || o.End != EndClientDropped {
		t.Errorf("got %s (dropped by client %v), want the client to drop TCP", o.End, o.DroppedByMe)
	}
	if r.CloseVerdict != CloseUnclean {
		t.Errorf("got closing verdict %s, want UNCLEAN", r.CloseVerdict)
	}
	if limit := failWait + closeHandshakeTimeout + caseSlack; time.Since(start) > limit {
		t.Errorf("case took %v, want under %v", time.Since(start), limit)
	}
}
