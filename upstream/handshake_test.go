package upstream

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/wsframe"
)

// scriptedBackend answers each WebSocket handshake with what answer
// returns for the request, written by hand, then holds the connection
// until the client closes it. Each request is sent on requests.
type scriptedBackend struct {
	ln       net.Listener
	requests chan *http.Request
}

func startScriptedBackend(t *testing.T, answer func(*http.Request) string) *scriptedBackend {
	t.Helper()
	b := &scriptedBackend{ln: listen(t, "tcp", "127.0.0.1:0"), requests: make(chan *http.Request, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := b.ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				b.requests <- req
				if a := answer(req); a != "" {
					io.WriteString(c, a)
				}
				io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() {
		b.ln.Close()
		<-done
	})
	return b
}

func (b *scriptedBackend) url() string { return "ws://" + b.ln.Addr().String() + "/chat" }

// switching is a valid 101 for req, with extra header lines.
func switching(req *http.Request, extra ...string) string {
	head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + wsframe.AcceptKey(req.Header.Get("Sec-Websocket-Key")) + "\r\n"
	for _, l := range extra {
		head += l + "\r\n"
	}
	return head + "\r\n"
}

// TestHandshakeRequestAndAnswer: the request carries what RFC 6455
// section 4.1 asks for, the offered subprotocols and extensions and the
// caller's headers; the backend's extension answer comes back.
func TestHandshakeRequestAndAnswer(t *testing.T) {
	const offer = "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame"
	const answer = "permessage-deflate; server_no_context_takeover"
	b := startScriptedBackend(t, func(req *http.Request) string {
		return switching(req, "Sec-WebSocket-Protocol: chat.v2", "Sec-WebSocket-Extensions: "+answer)
	})
	p := newTestPool(t, Config{Backend: b.url()})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, resp, err := p.DialWebSocket(ctx, DialRequest{
		Header:       http.Header{"Host": {"edge.test"}, "X-App": {"yes"}, "Sec-Websocket-Extensions": {"smuggled"}},
		Subprotocols: []string{"chat.v1", "chat.v2"},
		Extensions:   offer,
	})
	if err != nil {
		t.Fatalf("DialWebSocket: %v", err)
	}
	t.Cleanup(func() { closeConn(conn) })
	if got := resp.Header.Get("Sec-Websocket-Extensions"); got != answer {
		t.Errorf("extension answer: got %q, want %q", got, answer)
	}
	if conn.Early != nil || conn.URL != b.url() {
		t.Errorf("Conn: early % x, URL %q; want none and %q", conn.Early, conn.URL, b.url())
	}
	req := <-b.requests
	key, err := base64.StdEncoding.DecodeString(req.Header.Get("Sec-Websocket-Key"))
	if err != nil || len(key) != 16 {
		t.Errorf("Sec-WebSocket-Key %q: want 16 bytes in base64", req.Header.Get("Sec-Websocket-Key"))
	}
	want := map[string]string{
		"Upgrade":                  "websocket",
		"Connection":               "Upgrade",
		"Sec-Websocket-Version":    "13",
		"Sec-Websocket-Protocol":   "chat.v1, chat.v2",
		"Sec-Websocket-Extensions": offer,
		"X-App":                    "yes",
	}
	for k, v := range want {
		if got := strings.Join(req.Header.Values(k), " | "); got != v {
			t.Errorf("request header %s: got %q, want %q", k, got, v)
		}
	}
	if req.Method != http.MethodGet || req.Host != "edge.test" || req.URL.Path != "/chat" {
		t.Errorf("request: %s %s Host %q, want GET /chat Host edge.test", req.Method, req.URL, req.Host)
	}
}

// TestHandshakeNoOfferNoHeader: without extensions or subprotocols to
// offer, the request names none.
func TestHandshakeNoOfferNoHeader(t *testing.T) {
	b := startScriptedBackend(t, func(req *http.Request) string { return switching(req) })
	p := newTestPool(t, Config{Backend: b.url()})
	dial(t, p, nil)
	req := <-b.requests
	for _, k := range []string{"Sec-Websocket-Extensions", "Sec-Websocket-Protocol"} {
		if v, ok := req.Header[k]; ok {
			t.Errorf("request header %s: %q, want none", k, v)
		}
	}
}

// TestHandshakeBadAnswers: a 101 that is not a valid WebSocket answer
// fails the dial, and a non-101 comes back to be relayed, its body cut
// at 1 KiB; either way the backend answered, so it stays in rotation.
func TestHandshakeBadAnswers(t *testing.T) {
	longBody := strings.Repeat("x", 5000)
	cases := []struct {
		name       string
		answer     func(*http.Request) string
		wantErr    error
		wantStatus int
		wantBody   string
	}{
		{"wrong accept", func(*http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + wsframe.AcceptKey("other") + "\r\n\r\n"
		}, errBadUpgrade, 101, ""},
		{"no accept", func(*http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		}, errBadUpgrade, 101, ""},
		{"upgrade to something else", func(req *http.Request) string {
			return strings.Replace(switching(req), "Upgrade: websocket", "Upgrade: h2c", 1)
		}, errBadUpgrade, 101, ""},
		{"no Connection: Upgrade", func(req *http.Request) string {
			return strings.Replace(switching(req), "Connection: Upgrade", "Connection: keep-alive", 1)
		}, errBadUpgrade, 101, ""},
		{"refusal", func(*http.Request) string {
			return "HTTP/1.1 403 Forbidden\r\nX-Reason: token expired\r\nContent-Length: 19\r\n\r\nforbidden by policy"
		}, errNotUpgraded, 403, "forbidden by policy"},
		{"long refusal", func(*http.Request) string {
			return "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5000\r\n\r\n" + longBody
		}, errNotUpgraded, 500, longBody[:refusalBodyLimit]},
		{"chunked refusal", func(*http.Request) string {
			return "HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nlog i\r\n2\r\nn!\r\n0\r\n\r\n"
		}, errNotUpgraded, 401, "log in!"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Two backends: a failed dial would mark a down and try b.
			a, b := startScriptedBackend(t, tc.answer), startIDBackend(t, "b")
			p := newTestPool(t, Config{Backends: []string{a.url(), b.url()}, Balance: BalanceRoundRobin})
			conn, resp, err := p.DialWebSocket(context.Background(), DialRequest{Header: http.Header{}})
			if !errors.Is(err, tc.wantErr) || conn != nil {
				t.Fatalf("got conn %v, err %v; want no conn and %v", conn, err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), "dial backend "+a.url()) {
				t.Errorf("error %q does not name the backend", err)
			}
			if resp == nil || resp.StatusCode != tc.wantStatus {
				t.Fatalf("response %v, want status %d", resp, tc.wantStatus)
			}
			body, _ := io.ReadAll(resp.Body)
			if string(body) != tc.wantBody {
				t.Errorf("body: got %d bytes %.20q, want %d bytes %.20q", len(body), body, len(tc.wantBody), tc.wantBody)
			}
			if be := p.Backends()[0]; !be.Available() || be.Active() != 0 {
				t.Errorf("backend after an answer: available %v, active %d; want in rotation, none active", be.Available(), be.Active())
			}
		})
	}
}

// TestHandshakeLongHead: a backend whose headers go on and on fails the
// dial once they pass maxResponseHead.
func TestHandshakeLongHead(t *testing.T) {
	b := startScriptedBackend(t, func(*http.Request) string {
		return "HTTP/1.1 101 Switching Protocols\r\nX-Filler: " + strings.Repeat("a", maxResponseHead) + "\r\n\r\n"
	})
	p := newTestPool(t, Config{Backend: b.url()})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, resp, err := p.DialWebSocket(ctx, DialRequest{Header: http.Header{}})
	if !errors.Is(err, errLongHead) || resp != nil {
		t.Errorf("got %v (response %v), want %v", err, resp, errLongHead)
	}
}

// TestHandshakeCancelled: a client that leaves while a backend has not
// answered stops the handshake at once, and the error says why.
func TestHandshakeCancelled(t *testing.T) {
	b := startScriptedBackend(t, func(*http.Request) string { return "" }) // never answers
	p := newTestPool(t, Config{Backend: b.url()})
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() {
		_, _, err := p.DialWebSocket(ctx, DialRequest{Header: http.Header{}})
		result <- err
	}()
	select {
	case <-b.requests:
	case <-time.After(waitLimit):
		t.Fatal("the handshake request never arrived")
	}
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the handshake went on after the context was cancelled")
	}
}

// TestHandshakeTimeout: a backend that never answers fails the dial
// after the dialer's handshake timeout, as a timeout.
func TestHandshakeTimeout(t *testing.T) {
	b := startScriptedBackend(t, func(*http.Request) string { return "" })
	env := testEnv()
	env.Dialer.HandshakeTimeout = 50 * time.Millisecond
	cfg := Config{Backend: b.url()}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(cfg, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.DialWebSocket(context.Background(), DialRequest{Header: http.Header{}})
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("got %v, want a timeout", err)
	}
}
