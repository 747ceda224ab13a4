package forwardauth

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// waitFor bounds every channel receive in these tests.
const waitFor = 5 * time.Second

// authServer starts a loopback auth server running h, closed at cleanup.
func authServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// rawServer starts a loopback auth server that writes answer as it is on
// the request's connection and closes it: answers net/http would not
// write (a cut body, hop-by-hop headers, a 101).
func rawServer(t *testing.T, answer string) *httptest.Server {
	t.Helper()
	return authServer(t, func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString(answer)
		if err := buf.Flush(); err != nil {
			t.Errorf("write answer: %v", err)
		}
	})
}

// newChecker validates cfg and builds its Checker, closed at cleanup.
func newChecker(t *testing.T, cfg Config) *Checker {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	c := New(cfg)
	t.Cleanup(c.Close)
	return c
}

// handshake is a client's WebSocket handshake as the proxy received it.
func handshake() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/ws/chat?room=1&token=abc", nil)
	r.Host = "edge.test"
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	r.Header.Set("Sec-WebSocket-Version", "13")
	return r
}

var client = Client{IP: "203.0.113.7", Proto: "https"}

func TestAdmitCopiesListedHeadersOnly(t *testing.T) {
	srv := authServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-User-Id", "42")
		w.Header().Add("X-Groups", "staff")
		w.Header().Add("X-Groups", "ops")
		w.Header().Set("X-Unlisted", "z")
		w.WriteHeader(http.StatusNoContent)
	})
	c := newChecker(t, Config{URL: srv.URL + "/check", CopyHeaders: []string{"x-user-id", "X-Groups", "X-Role"}})

	v, err := c.Check(t.Context(), handshake(), client)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !v.Admit {
		t.Fatalf("Admit: got false (status %d), want true", v.Status)
	}
	want := http.Header{"X-User-Id": {"42"}, "X-Groups": {"staff", "ops"}}
	if !reflect.DeepEqual(v.Copy, want) {
		t.Errorf("Copy: got %v, want %v", v.Copy, want)
	}

	// A client's forged identity is removed, whether or not the answer
	// replaces it; headers outside copy_headers are left alone.
	backend := http.Header{
		"X-User-Id": {"1"}, "X-Role": {"admin"}, "X-Unlisted": {"client's"}, "Cookie": {"s=1"},
	}
	v.ApplyTo(backend)
	want = http.Header{
		"X-User-Id": {"42"}, "X-Groups": {"staff", "ops"}, "X-Unlisted": {"client's"}, "Cookie": {"s=1"},
	}
	if !reflect.DeepEqual(backend, want) {
		t.Errorf("after ApplyTo: got %v, want %v", backend, want)
	}
}

func TestAdmitDiscardsLargeBody(t *testing.T) {
	srv := authServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 3*maxBody))
	})
	c := newChecker(t, Config{URL: srv.URL})
	v, err := c.Check(t.Context(), handshake(), client)
	if err != nil || !v.Admit {
		t.Fatalf("Check: got %+v, %v; want admitted", v, err)
	}
	if v.Body != nil || v.Header != nil {
		t.Errorf("admit carries a refusal: body %d bytes, header %v", len(v.Body), v.Header)
	}
}

type seenRequest struct {
	method, host, uri string
	contentLength     int64
	header            http.Header
}

func TestSubrequest(t *testing.T) {
	seen := make(chan seenRequest, 1)
	srv := authServer(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- seenRequest{r.Method, r.Host, r.RequestURI, r.ContentLength, r.Header.Clone()}
	})
	c := newChecker(t, Config{URL: srv.URL + "/check?app=chat"})

	r := handshake()
	r.Method = http.MethodConnect // a WebSocket over HTTP/2 (RFC 8441)
	r.Header.Set("Connection", "Upgrade, X-Hop")
	r.Header.Set("X-Hop", "named by Connection")
	r.Header.Set("Keep-Alive", "timeout=5")
	r.Header.Set("Te", "trailers")
	r.Header.Set("Proxy-Authorization", "Basic cHJveHk6c2VjcmV0")
	r.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate")
	r.Header.Set("Sec-WebSocket-Protocol", "chat.v2")
	r.Header.Set("Content-Length", "0")
	r.Header.Set("Cookie", "session=s3")
	r.Header.Set("Authorization", "Bearer t0k")
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("User-Agent", "wsedge-test/1")
	r.Header.Set("X-Forwarded-For", "6.6.6.6")
	r.Header.Set("X-Forwarded-Prefix", "/forged")
	r.Header.Set("Forwarded", "for=6.6.6.6")
	r.Header.Set("X-Real-Ip", "6.6.6.6")

	v, err := c.Check(t.Context(), r, client)
	if err != nil || !v.Admit {
		t.Fatalf("Check: got %+v, %v; want admitted", v, err)
	}
	var got seenRequest
	select {
	case got = <-seen:
	case <-time.After(waitFor):
		t.Fatal("the auth server saw no request")
	}
	if got.method != http.MethodGet || got.uri != "/check?app=chat" || got.contentLength != 0 {
		t.Errorf("request line: got %s %s (length %d), want GET /check?app=chat without a body", got.method, got.uri, got.contentLength)
	}
	if want := srv.Listener.Addr().String(); got.host != want {
		t.Errorf("Host: got %q, want the auth server's %q", got.host, want)
	}
	for name, want := range map[string]string{
		"X-Forwarded-Method":     "CONNECT",
		"X-Forwarded-Uri":        "/ws/chat?room=1&token=abc",
		"X-Forwarded-Host":       "edge.test",
		"X-Forwarded-Proto":      "https",
		"X-Forwarded-For":        "203.0.113.7",
		"Cookie":                 "session=s3",
		"Authorization":          "Bearer t0k",
		"Origin":                 "https://app.example.com",
		"User-Agent":             "wsedge-test/1",
		"Sec-Websocket-Protocol": "chat.v2",
	} {
		if values := got.header[name]; len(values) != 1 || values[0] != want {
			t.Errorf("%s: got %q, want [%q]", name, values, want)
		}
	}
	for _, name := range []string{
		"Connection", "Upgrade", "X-Hop", "Keep-Alive", "Te", "Proxy-Authorization",
		"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions",
		"Content-Length", "X-Forwarded-Prefix", "Forwarded", "X-Real-Ip", "Accept-Encoding",
	} {
		if values, ok := got.header[name]; ok {
			t.Errorf("%s: got %q, want none", name, values)
		}
	}
	if r.Header.Get("Upgrade") != "websocket" || r.Header.Get("X-Forwarded-For") != "6.6.6.6" {
		t.Errorf("Check changed the client's request: %v", r.Header)
	}
}

func TestSubrequestWithoutUserAgent(t *testing.T) {
	seen := make(chan http.Header, 1)
	srv := authServer(t, func(w http.ResponseWriter, r *http.Request) { seen <- r.Header.Clone() })
	c := newChecker(t, Config{URL: srv.URL})
	if _, err := c.Check(t.Context(), handshake(), Client{}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	select {
	case h := <-seen:
		for _, name := range []string{"User-Agent", "X-Forwarded-For", "X-Forwarded-Proto"} {
			if values, ok := h[name]; ok {
				t.Errorf("%s: got %q, want none (the client sent none)", name, values)
			}
		}
	case <-time.After(waitFor):
		t.Fatal("the auth server saw no request")
	}
}

func TestRefusalRelayed(t *testing.T) {
	srv := rawServer(t, "HTTP/1.1 401 Unauthorized\r\n"+
		"WWW-Authenticate: Bearer realm=\"edge\"\r\n"+
		"Set-Cookie: next=/ws/chat\r\n"+
		"Content-Type: text/plain\r\n"+
		"Connection: X-Hop\r\n"+
		"X-Hop: 1\r\n"+
		"Keep-Alive: timeout=5\r\n"+
		"Content-Length: 12\r\n\r\n"+
		"log in first")
	c := newChecker(t, Config{URL: srv.URL, CopyHeaders: []string{"X-User-Id"}})
	v, err := c.Check(t.Context(), handshake(), client)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if v.Admit || v.Status != http.StatusUnauthorized {
		t.Fatalf("got admit %v, status %d; want refused with 401", v.Admit, v.Status)
	}
	want := http.Header{
		"Www-Authenticate": {`Bearer realm="edge"`},
		"Set-Cookie":       {"next=/ws/chat"},
		"Content-Type":     {"text/plain"},
	}
	if !reflect.DeepEqual(v.Header, want) {
		t.Errorf("Header: got %v, want %v", v.Header, want)
	}
	if string(v.Body) != "log in first" {
		t.Errorf("Body: got %q, want %q", v.Body, "log in first")
	}
	// A refusal copies nothing, and still removes a forged identity.
	h := http.Header{"X-User-Id": {"1"}}
	v.ApplyTo(h)
	if len(h) != 0 {
		t.Errorf("after ApplyTo of a refusal: got %v, want empty", h)
	}
}

func TestRedirectRelayedNotFollowed(t *testing.T) {
	var followed atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/check", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login?next=chat", http.StatusFound)
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) { followed.Add(1) })
	srv := authServer(t, mux.ServeHTTP)
	c := newChecker(t, Config{URL: srv.URL + "/check"})

	v, err := c.Check(t.Context(), handshake(), client)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if v.Admit || v.Status != http.StatusFound || v.Header.Get("Location") != "/login?next=chat" {
		t.Errorf("got admit %v, status %d, Location %q; want 302 to /login?next=chat", v.Admit, v.Status, v.Header.Get("Location"))
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times, want 0", n)
	}
}

func TestRefusalBodyCut(t *testing.T) {
	page := make([]byte, maxBody+10000)
	for i := range page {
		page[i] = byte('a' + i%26)
	}
	srv := authServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		w.Write(page)
	})
	c := newChecker(t, Config{URL: srv.URL})
	v, err := c.Check(t.Context(), handshake(), client)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if v.Status != http.StatusForbidden || len(v.Body) != 64<<10 || !bytes.Equal(v.Body, page[:64<<10]) {
		t.Errorf("got status %d and %d bytes of body, want 403 and the first 65536", v.Status, len(v.Body))
	}
	if _, ok := v.Header["Content-Length"]; ok {
		t.Errorf("Content-Length relayed: %v", v.Header)
	}
}

func TestUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name, url string
	}{
		{"down", "http://" + down + "/check?token=s3cret"},
		{"cut answer", rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b").URL},
		{"no answer", rawServer(t, "").URL},
		{"101", rawServer(t, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n").URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChecker(t, Config{URL: tc.url, Timeout: conftypes.Duration(waitFor)})
			v, err := c.Check(t.Context(), handshake(), client)
			if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout) {
				t.Fatalf("got %+v, %v; want an error wrapping ErrUnavailable only", v, err)
			}
			if v != nil {
				t.Errorf("got a verdict %+v with the error", v)
			}
			t.Log(err)
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the URL's token: %v", err)
			}
		})
	}
}

// slowServer is an auth server that answers nothing until the test ends.
// Each request is announced on the returned channel.
func slowServer(t *testing.T) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := authServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close, which waits for handlers
	return srv, arrived
}

func TestTimeout(t *testing.T) {
	srv, _ := slowServer(t)
	c := newChecker(t, Config{URL: srv.URL, Timeout: conftypes.Duration(100 * time.Millisecond)})
	_, err := c.Check(t.Context(), handshake(), client)
	t.Log(err)
	if !errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnavailable) {
		t.Errorf("got %v, want an error wrapping ErrTimeout only", err)
	}
}

func TestCallerContextEnds(t *testing.T) {
	t.Run("cancelled", func(t *testing.T) {
		srv, arrived := slowServer(t)
		c := newChecker(t, Config{URL: srv.URL, Timeout: conftypes.Duration(time.Minute)})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := c.Check(ctx, handshake(), client)
			done <- err
		}()
		select {
		case <-arrived:
		case <-time.After(waitFor):
			t.Fatal("the auth server saw no request")
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnavailable) {
				t.Errorf("got %v, want context.Canceled and neither sentinel", err)
			}
		case <-time.After(waitFor):
			t.Fatal("Check did not return after its context was cancelled")
		}
	})
	t.Run("caller's deadline first", func(t *testing.T) {
		srv, _ := slowServer(t)
		c := newChecker(t, Config{URL: srv.URL, Timeout: conftypes.Duration(time.Minute)})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := c.Check(ctx, handshake(), client)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnavailable) {
			t.Errorf("got %v, want context.DeadlineExceeded and neither sentinel", err)
		}
	})
}

func TestConcurrentChecks(t *testing.T) {
	srv := authServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer ok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-User-Id", r.Header.Get("X-Forwarded-For"))
	})
	c := newChecker(t, Config{URL: srv.URL, CopyHeaders: []string{"X-User-Id"}})
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			r := handshake()
			good := i%2 == 0
			if good {
				r.Header.Set("Authorization", "Bearer ok")
			}
			ip := "192.0.2." + strconv.Itoa(i+1)
			v, err := c.Check(t.Context(), r, Client{IP: ip, Proto: "http"})
			if err != nil {
				t.Errorf("check %d: %v", i, err)
				return
			}
			if v.Admit != good || (good && v.Copy.Get("X-User-Id") != ip) {
				t.Errorf("check %d: got admit %v, copy %v; want admit %v for %s", i, v.Admit, v.Copy, good, ip)
			}
		})
	}
	wg.Wait()
}

func TestRedactURI(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"token", "/ws?token=abc", "/ws?token=REDACTED"},
		{"access_token", "/ws?room=1&access_token=abc&x=2", "/ws?room=1&access_token=REDACTED&x=2"},
		{"case", "/ws?Token=abc&ACCESS_TOKEN=def", "/ws?Token=REDACTED&ACCESS_TOKEN=REDACTED"},
		{"escaped name", "/ws?to%6Ben=abc", "/ws?to%6Ben=REDACTED"},
		{"repeated", "/ws?token=a&token=b", "/ws?token=REDACTED&token=REDACTED"},
		{"others untouched", "/ws?b=2&a=1&tokens=3&my_token=4&token", "/ws?b=2&a=1&tokens=3&my_token=4&token"},
		{"no query", "/ws/token=abc", "/ws/token=abc"},
		{"empty query", "/ws?", "/ws?"},
		{"malformed escapes", "/ws?%zz=1&token=%zz&a=%", "/ws?%zz=1&token=REDACTED&a=%"},
		{"semicolon", "/ws?a=1;token=abc", "/ws?a=1;token=REDACTED"},
		{"hash in value", "/ws?token=ab#cd&x=1", "/ws?token=REDACTED&x=1"},
		{"second question mark", "/ws?a=b?token=c&token=d", "/ws?a=b?token=c&token=REDACTED"},
		{"whole URL", "https://auth.test:9000/check?token=s3cret", "https://auth.test:9000/check?token=REDACTED"},
		{"empty", "", ""},
		{"trailing separator", "/ws?token=abc&", "/ws?token=REDACTED&"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RedactURI(tc.in); got != tc.want {
				t.Errorf("RedactURI(%q): got %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	const good = "http://127.0.0.1:9000/check"
	for _, tc := range []struct {
		name  string
		cfg   Config
		paths []string
	}{
		{"valid", Config{URL: good, CopyHeaders: []string{"X-User-Id", "x-groups"}, Timeout: conftypes.Duration(time.Second)}, nil},
		{"https", Config{URL: "https://auth.example.com/check?app=1"}, nil},
		{"off", Config{Off: true}, nil},
		{"missing url", Config{}, []string{"url"}},
		{"bad scheme", Config{URL: "ftp://127.0.0.1/check"}, []string{"url"}},
		{"ws scheme", Config{URL: "ws://127.0.0.1/check"}, []string{"url"}},
		{"relative", Config{URL: "/check"}, []string{"url"}},
		{"no scheme", Config{URL: "127.0.0.1:9000/check"}, []string{"url"}},
		{"no host", Config{URL: "http:///check"}, []string{"url"}},
		{"port only", Config{URL: "http://:9000/check"}, []string{"url"}},
		{"userinfo", Config{URL: "http://user:pw@127.0.0.1/check"}, []string{"url"}},
		{"fragment", Config{URL: good + "#here"}, []string{"url"}},
		{"bad header names", Config{URL: good, CopyHeaders: []string{"X-User-Id", "X User", "", "X:Y", "Ü"}},
			[]string{"copy_headers[1]", "copy_headers[2]", "copy_headers[3]", "copy_headers[4]"}},
		{"owned headers", Config{URL: good, CopyHeaders: []string{"connection", "Upgrade", "Transfer-Encoding", "Host", "Content-Length", "Proxy-Authorization", "Sec-WebSocket-Protocol", "X-Ok"}},
			[]string{"copy_headers[0]", "copy_headers[1]", "copy_headers[2]", "copy_headers[3]", "copy_headers[4]", "copy_headers[5]", "copy_headers[6]"}},
		{"negative timeout", Config{URL: good, Timeout: -1}, []string{"timeout"}},
		{"off with url", Config{Off: true, URL: good}, []string{"url"}},
		{"off with the rest", Config{Off: true, CopyHeaders: []string{"X-User-Id"}, Timeout: conftypes.Duration(time.Second)}, []string{"copy_headers", "timeout"}},
		{"all at once", Config{URL: "ftp://x", CopyHeaders: []string{"X-Ok", "bad name"}, Timeout: -1}, []string{"url", "copy_headers[1]", "timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var paths []string
			for _, e := range conftypes.Flatten(err) {
				var fe *conftypes.FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("%v is not a FieldError", e)
				}
				paths = append(paths, fe.Path)
			}
			if !slices.Equal(paths, tc.paths) {
				t.Errorf("paths: got %q, want %q (%v)", paths, tc.paths, err)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("the error shows the URL's password: %v", err)
			}
		})
	}
}

func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want bool
	}{
		{Config{URL: "http://127.0.0.1/check"}, true},
		{Config{Off: true}, false},
		{Config{}, false},
	} {
		if got := tc.cfg.Enabled(); got != tc.want {
			t.Errorf("%+v: got %v, want %v", tc.cfg, got, tc.want)
		}
	}
}
