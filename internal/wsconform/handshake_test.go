package wsconform

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/wsframe"
	"github.com/wsedge/wsedge/internal/wstest"
)

// rawUpgrade reads an upgrade request from c and answers it with a 101
// whose Sec-WebSocket-Accept is accept(key), followed in the same write by
// extra. It returns the reader holding the client's frames.
func rawUpgrade(c net.Conn, accept func(key string) string, extra []byte) (*bufio.Reader, error) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	resp := fmt.Sprintf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		accept(req.Header.Get("Sec-WebSocket-Key")))
	_, err = c.Write(append([]byte(resp), extra...))
	return br, err
}

// TestDialKeepsBytesAfterResponse: frames a server sends in the same write
// as its 101 belong to the connection and must reach the frame reader.
func TestDialKeepsBytesAfterResponse(t *testing.T) {
	early := Frame{Fin: true, Opcode: OpText, Payload: []byte("right behind the 101"), Unmasked: true}.appendWire(nil, [4]byte{})
	addr := rawServer(t, func(c net.Conn) {
		br, err := rawUpgrade(c, wsframe.AcceptKey, early)
		if err != nil {
			t.Errorf("server: %v", err)
			return
		}
		readFrame(br, 1<<10) // hold the connection until the client closes it
	})
	d, err := newDialer("ws://"+addr+"/path?q=1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), handlerWait)
	defer cancel()
	conn, br, err := d.dial(ctx)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	t.Logf("%d bytes were buffered with the response head", br.Buffered())
	conn.SetReadDeadline(time.Now().Add(handlerWait))
	f, err := readFrame(br, 1<<10)
	if err != nil {
		t.Fatalf("read the early frame: %v", err)
	}
	if f.opcode != OpText || string(f.payload) != "right behind the 101" {
		t.Errorf("got %v %q, want the text frame sent with the 101", f.opcode, f.payload)
	}
}

// TestHandshakeFailuresFailTheCase: a server that answers but does not
// upgrade properly fails the case, and the run goes on.
func TestHandshakeFailuresFailTheCase(t *testing.T) {
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(forbidden.Close)
	badAccept := rawServer(t, func(c net.Conn) {
		rawUpgrade(c, func(string) string { return "d3Jvbmc=" }, nil)
	})
	for _, tc := range []struct {
		name, url, want string
	}{
		{"status 403", "ws://" + forbidden.Listener.Addr().String(), "403"},
		{"wrong accept", "ws://" + badAccept, "Sec-WebSocket-Accept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			results := runCases(t, tc.url, pick(t, "1.1.1", "2.1"))
			for _, r := range results {
				if r.Verdict != VerdictFailed || r.CloseVerdict != CloseFailed {
					t.Errorf("%s: got %s/%s, want FAILED/FAILED", r.ID, r.Verdict, r.CloseVerdict)
				}
				if r.Observed.Opened || !strings.Contains(r.Observed.HandshakeError, tc.want) {
					t.Errorf("%s: handshake error %q, want it to mention %q", r.ID, r.Observed.HandshakeError, tc.want)
				}
			}
		})
	}
}

// TestUnreachableServerStopsTheRun: with nothing listening no case can
// run, so Run stops with a *DialError.
func TestUnreachableServerStopsTheRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), handlerWait)
	defer cancel()
	results, err := Run(ctx, "ws://"+wstest.ClosedAddr(t), pick(t, "1.1.1", "1.1.2"))
	var de *DialError
	if !errors.As(err, &de) {
		t.Errorf("got error %v, want a *DialError", err)
	}
	if len(results) != 0 {
		t.Errorf("got %d results, want none", len(results))
	}
}

func TestBadURLs(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1/", "ws://", "::"} {
		if _, err := Run(context.Background(), u, nil); err == nil {
			t.Errorf("Run(%q): got no error, want one", u)
		}
	}
}
