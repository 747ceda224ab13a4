package proxy

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/forwardauth"
)

// startAuthServer is a real auth server on loopback: "Bearer good" is
// alice (with a header that is not to be copied), "Bearer slow" is
// answered only when the test ends, anything else is 401 with a
// challenge. It sends the subrequests it gets to checks.
func startAuthServer(t *testing.T) (url string, checks chan *http.Request) {
	t.Helper()
	checks = make(chan *http.Request, 64)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case checks <- r:
		default:
		}
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			w.Header().Set("X-User-Id", "alice")
			w.Header().Set("X-Internal", "not for the backend")
		case "Bearer slow":
			<-done
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="edge"`)
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "login required")
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs first: the slow check ends
	return srv.URL + "/check", checks
}

// TestForwardAuth: an auth server admits (its X-User-Id reaching the
// backend, the client's forged one removed), refuses (its 401 and
// WWW-Authenticate relayed, nothing dialled or opened), is down (503) or
// slow (504), for WebSocket and plain requests, on backend and built-in
// routes; a route can opt out of the top-level auth.
func TestForwardAuth(t *testing.T) {
	authURL, checks := startAuthServer(t)
	headers := make(chan http.Header, 16)
	backend := startMixedBackend(t, websocket.Upgrader{}, func(c *websocket.Conn, r *http.Request) {
		headers <- r.Header
		echoConn(c, r)
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { headers <- r.Header }))
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + down.Addr().String() + "/check"
	down.Close()
	app := backendRoute("/app", backend.wsURL("/"))
	echo := handlerRoute("/echo", "echo")
	public := backendRoute("/public", backend.wsURL("/"))
	public.Auth = &forwardauth.Config{Off: true}
	broken := backendRoute("/broken", backend.wsURL("/"))
	broken.Auth = &forwardauth.Config{URL: downURL}
	cfg := testConfig(app, echo, public, broken)
	cfg.Auth = &forwardauth.Config{URL: authURL, CopyHeaders: []string{"X-User-Id"}, Timeout: conftypes.Duration(300 * time.Millisecond)}
	tp := startProxy(t, cfg, false)
	next := func(what string) http.Header {
		t.Helper()
		select {
		case h := <-headers:
			return h
		case <-time.After(waitLimit):
			t.Fatalf("%s: the backend got no request", what)
			return nil
		}
	}
	good := http.Header{"Authorization": {"Bearer good"}, "X-User-Id": {"mallory"}, "Cookie": {"session=1"}}

	// Admitted: the auth server's X-User-Id, not the client's.
	c, resp, err := tp.dialFrom(t, "127.0.0.2", tp.plainURL+"/app?room=1", good, nil)
	if err != nil {
		t.Fatalf("admitted handshake: %v (status %d)", err, statusOf(resp))
	}
	h := next("websocket")
	if got := h.Values("X-User-Id"); len(got) != 1 || got[0] != "alice" || h.Get("X-Internal") != "" {
		t.Errorf("backend got X-User-Id %q, X-Internal %q; want alice only", got, h.Get("X-Internal"))
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Error(err)
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, m, err := c.ReadMessage(); err != nil || string(m) != "hi" {
		t.Errorf("echo through an admitted connection: %q, %v", m, err)
	}
	c.Close()
	select {
	case r := <-checks:
		if r.Header.Get("X-Forwarded-Uri") != "/app?room=1" || r.Header.Get("X-Forwarded-Method") != "GET" ||
			r.Header.Get("X-Forwarded-For") != "127.0.0.2" || r.Header.Get("Cookie") != "session=1" {
			t.Errorf("the subrequest carried %v", r.Header)
		}
	case <-time.After(waitLimit):
		t.Fatal("the auth server was not asked")
	}
	req, _ := http.NewRequest(http.MethodGet, tp.httpURL()+"/app", nil)
	req.Header = good.Clone()
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("admitted plain request: %v %v", resp, err)
	} else {
		resp.Body.Close()
		if got := next("plain").Values("X-User-Id"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("plain request: backend got X-User-Id %q, want alice", got)
		}
	}

	// Refused: the auth server's answer, whole.
	tp.waitConnections(t, 0)
	before := takeLeftovers(t)
	for _, path := range []string{"/app", "/echo"} {
		for range 10 {
			_, resp, _ := tp.dialFrom(t, "127.0.0.2", tp.plainURL+path, http.Header{"X-User-Id": {"mallory"}}, nil)
			if statusOf(resp) != http.StatusUnauthorized {
				t.Fatalf("%s without credentials: status %d, want 401", path, statusOf(resp))
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.Header.Get("Www-Authenticate") != `Bearer realm="edge"` || string(body) != "login required" {
				t.Errorf("%s: the refusal relayed WWW-Authenticate %q and body %q", path, resp.Header.Get("Www-Authenticate"), body)
			}
		}
	}
	before.expectNone(t)
	select {
	case <-headers:
		t.Error("a refused request reached the backend")
	default:
	}
	tp.log.waitFor(t, "request refused", func(a map[string]string) bool {
		return a["status"] == "401" && a["err"] == "auth server refused: 401"
	})

	// Failing closed: down is 503, slow is 504.
	_, resp, _ = tp.dialFrom(t, "127.0.0.2", tp.plainURL+"/broken", good, nil)
	refusedWith(t, "auth server down", resp, http.StatusServiceUnavailable, "5")
	_, resp, _ = tp.dialFrom(t, "127.0.0.2", tp.plainURL+"/app", http.Header{"Authorization": {"Bearer slow"}}, nil)
	if statusOf(resp) != http.StatusGatewayTimeout {
		t.Errorf("auth server too slow: status %d, want 504", statusOf(resp))
	}
	// Opted out: no credentials needed.
	if _, resp, err := tp.dialFrom(t, "127.0.0.2", tp.plainURL+"/public", nil, nil); err != nil {
		t.Errorf("a route with auth off: %v (status %d)", err, statusOf(resp))
	}
}

// TestTokensRedactedInLogs: a token in the query string never reaches
// the log, whether the request is admitted or refused.
func TestTokensRedactedInLogs(t *testing.T) {
	backend := startMixedBackend(t, websocket.Upgrader{}, echoConn, http.NotFoundHandler())
	cfg := testConfig(backendRoute("/app", backend.wsURL("/")))
	tp := startProxy(t, cfg, false)
	if _, resp, err := tp.dialFrom(t, "127.0.0.2", tp.plainURL+"/app?token=s3cret&room=1", nil, nil); err != nil {
		t.Fatalf("dial: %v (status %d)", err, statusOf(resp))
	}
	if resp, err := http.Get(tp.httpURL() + "/app?access_token=s3cret"); err == nil {
		resp.Body.Close()
	}
	_, resp, _ := tp.dialFrom(t, "127.0.0.2", tp.plainURL+"/nowhere?Token=s3cret", nil, nil)
	if statusOf(resp) != http.StatusNotFound {
		t.Errorf("unmatched path: status %d", statusOf(resp))
	}
	opened := tp.log.waitFor(t, "websocket opened", nil)
	if opened["query"] != "token=REDACTED&room=1" {
		t.Errorf("websocket opened: query %q", opened["query"])
	}
	tp.log.waitFor(t, "http request", nil)
	tp.log.waitFor(t, "request refused", nil)
	tp.log.mu.Lock()
	defer tp.log.mu.Unlock()
	for _, r := range tp.log.records {
		r.Attrs(func(a slog.Attr) bool {
			if strings.Contains(a.Value.String(), "s3cret") {
				t.Errorf("%q logged %s=%s", r.Message, a.Key, a.Value)
			}
			return true
		})
	}
}
