package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/internal/wstest"
	"github.com/wsedge/wsedge/proxy"
)

// listenPlain opens the one plain listener a reload test app serves on.
func listenPlain(t *testing.T) proxy.Listeners {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return proxy.Listeners{HTTP: ln}
}

// rewrite replaces the app's configuration file; the next reload reads it.
func (ra *runningApp) rewrite(t *testing.T, yamlText string) {
	t.Helper()
	wstest.WriteFileAtomically(t, ra.path, []byte(yamlText))
}

// dialWS opens ws://<app>/path, closed when the test ends; resp is the
// handshake's answer (a refusal's status included).
func (ra *runningApp) dialWS(t *testing.T, path string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitLimit}
	c, resp, err := d.Dial("ws://"+ra.plainAddr+path, nil)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// reloadConfig is the text of a configuration whose routes a test varies
// between reloads; the rest stays the same (a reload applies routes only).
func reloadConfig(closeSpread string, routes ...string) string {
	return `listen:
  http: "127.0.0.1:0"
keepalive:
  ping_interval: 1s
  pong_timeout: 5s
shutdown:
  close_spread: ` + closeSpread + `
routes:
` + strings.Join(routes, "")
}

func backendRoute(name, path string, backends ...string) string {
	return fmt.Sprintf("  - name: %s\n    path: %s\n    backends: [%s]\n", name, path, strings.Join(backends, ", "))
}

func handlerRoute(name, path, handler string) string {
	return fmt.Sprintf("  - name: %s\n    path: %s\n    handler: %s\n", name, path, handler)
}

// echoClient exchanges numbered messages with an echo through c until
// stop is closed, and checks each echo is the message it sent, in order.
func echoClient(t *testing.T, c *websocket.Conn, name string, stop <-chan struct{}, sent *atomic.Int64) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		msg := fmt.Sprintf("%s #%d", name, i)
		c.SetWriteDeadline(time.Now().Add(waitLimit))
		c.SetReadDeadline(time.Now().Add(waitLimit))
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Errorf("%s: write %d: %v", name, i, err)
			return
		}
		_, got, err := c.ReadMessage()
		if err != nil {
			t.Errorf("%s: message %d: %v", name, i, err)
			return
		}
		if string(got) != msg {
			t.Errorf("%s: sent %q, got %q back", name, msg, got)
			return
		}
		sent.Add(1)
	}
}

// TestReloadUnderLoadDropsNothing: connections exchanging numbered
// messages while reloads add and remove an unrelated route and change
// another route's pool: none is dropped, no message is lost or out of
// order, and every reload takes effect for new handshakes.
func TestReloadUnderLoadDropsNothing(t *testing.T) {
	a, b := wstest.EchoServer(t), wstest.EchoServer(t)
	base := []string{backendRoute("main", "/ws", a+"/"), handlerRoute("echo", "/echo", "echo")}
	poolOnlyA := backendRoute("pool", "/pool", a+"/")
	poolAB := backendRoute("pool", "/pool", a+"/", b+"/")
	extra := backendRoute("extra", "/extra", b+"/")
	ra := startApp(t, t.TempDir(), reloadConfig("1s", append(base, poolOnlyA)...), listenPlain(t))

	const perRoute = 15
	stop := make(chan struct{})
	var clients sync.WaitGroup
	var exchanged atomic.Int64
	for _, path := range []string{"/ws", "/echo", "/pool"} {
		for i := range perRoute {
			c, _, err := ra.dialWS(t, path)
			if err != nil {
				t.Fatalf("dial %s: %v", path, err)
			}
			clients.Go(func() { echoClient(t, c, fmt.Sprintf("%s-%d", path, i), stop, &exchanged) })
		}
	}
	const reloads = 20
	for i := range reloads {
		with := i%2 == 0
		routes := slices.Clone(base)
		if with {
			routes = append(routes, poolAB, extra)
		} else {
			routes = append(routes, poolOnlyA)
		}
		ra.rewrite(t, reloadConfig("1s", routes...))
		before := exchanged.Load()
		if err := ra.app.reload(); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		probe, resp, err := ra.dialWS(t, "/extra")
		if probe != nil {
			probe.Close()
		}
		switch {
		case with && err != nil:
			t.Errorf("reload %d added /extra, but a handshake there fails: %v", i, err)
		case !with && (resp == nil || resp.StatusCode != http.StatusNotFound):
			t.Errorf("reload %d removed /extra, but a handshake there got %v, %v; want 404", i, resp, err)
		}
		// The connections keep exchanging between reloads.
		wstest.Eventually(t, waitLimit, func() bool { return exchanged.Load() > before+3*perRoute })
	}
	close(stop)
	clients.Wait()
	if n := ra.app.proxy.ActiveConnections(); n < 3*perRoute {
		t.Errorf("%d connections open after the reloads, want at least the %d of the load", n, 3*perRoute)
	}
	if strings.Contains(ra.logs.String(), "reload failed") {
		t.Errorf("a reload failed:\n%s", ra.logs)
	}
	t.Logf("%d messages exchanged across %d reloads", exchanged.Load(), reloads)
}

// TestReloadRefusesABrokenFile: whatever is wrong with the new file, the
// reload fails as a whole, names the file and line, and the running
// configuration keeps serving.
func TestReloadRefusesABrokenFile(t *testing.T) {
	a := wstest.EchoServer(t)
	good := reloadConfig("1s", backendRoute("main", "/ws", a+"/"))
	dir := t.TempDir()
	ra := startApp(t, dir, good, listenPlain(t))
	open, _, err := ra.dialWS(t, "/ws")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, yaml, want string
	}{
		{"YAML syntax", strings.Replace(good, "path: /ws", "path: /ws: bad", 1), "wsedge.yaml:10: YAML syntax"},
		{"missing CA bundle", reloadConfig("1s", backendRoute("main", "/ws", a+"/"),
			"  - name: secure\n    path: /secure\n    backend: wss://127.0.0.1:1/\n    tls:\n      ca: no-such-ca.pem\n"),
			`wsedge.yaml:16: routes[1].tls.ca (route "secure"): read CA bundle: open ` + filepath.Join(dir, "no-such-ca.pem")},
		{"conflicting routes", reloadConfig("1s", backendRoute("main", "/ws", a+"/"), backendRoute("again", "/ws", a+"/")),
			`wsedge.yaml:13: routes[1].path (route "again"): path "/ws" conflicts with routes[0]`},
		{"a section a reload does not apply", strings.Replace(good, "close_spread: 1s", "close_spread: 2s", 1),
			"wsedge.yaml:6: shutdown: changed: this section takes effect at a restart"},
		{"pings turned off", strings.Replace(good, "ping_interval: 1s", "ping_interval: 0s", 1),
			"wsedge.yaml:4: keepalive.ping_interval: turning pings on or off takes a restart"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ra.rewrite(t, tc.yaml)
			err := ra.app.reload()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("reload: got %v, want an error containing %q", err, tc.want)
			}
			roundTrip(t, open, "the open connection after "+tc.name)
			fresh, _, err := ra.dialWS(t, "/ws")
			if err != nil {
				t.Fatalf("a new handshake on the running routes: %v", err)
			}
			roundTrip(t, fresh, "a new connection after "+tc.name)
			if _, resp, _ := ra.dialWS(t, "/secure"); resp == nil || resp.StatusCode != http.StatusNotFound {
				t.Errorf("/secure after a failed reload: got %v, want 404 (nothing half-applied)", resp)
			}
		})
	}
	if got := strings.Count(ra.logs.String(), "reload failed"); got != len(cases) {
		t.Errorf("logged %d failed reloads, want %d", got, len(cases))
	}
	ra.rewrite(t, good)
	if err := ra.app.reload(); err != nil {
		t.Errorf("reload of the good file again: %v", err)
	}
}

// TestReloadClosesRemovedRouteSpread: the connections of a removed route
// (proxied and built-in) get 1012 Service Restart, spread over
// shutdown.close_spread; the connections of the routes that stay are
// untouched.
func TestReloadClosesRemovedRouteSpread(t *testing.T) {
	const conns = 200
	const spread = 2 * time.Second
	a := wstest.EchoServer(t)
	keep := backendRoute("keep", "/keep", a+"/")
	ra := startApp(t, t.TempDir(), reloadConfig(spread.String(), keep, backendRoute("gone", "/gone", a+"/"), handlerRoute("gone-echo", "/gone-echo", "echo")), listenPlain(t))
	kept, _, err := ra.dialWS(t, "/keep")
	if err != nil {
		t.Fatal(err)
	}
	type closed struct {
		at   time.Time
		code int
		err  error
	}
	results := make(chan closed, conns)
	for i := range conns {
		path := "/gone"
		if i%10 == 0 {
			path = "/gone-echo"
		}
		c, _, err := ra.dialWS(t, path)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		go func() {
			c.SetReadDeadline(time.Now().Add(waitLimit))
			_, _, err := c.ReadMessage()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				results <- closed{at: time.Now(), code: ce.Code}
				return
			}
			results <- closed{err: err}
		}()
	}
	ra.rewrite(t, reloadConfig(spread.String(), keep))
	start := time.Now()
	if err := ra.app.reload(); err != nil {
		t.Fatal(err)
	}
	var offsets []time.Duration
	timeout := time.After(waitLimit)
	for range conns {
		select {
		case r := <-results:
			switch {
			case r.err != nil:
				t.Errorf("a connection of a removed route ended without a close frame: %v", r.err)
			case r.code != 1012:
				t.Errorf("close code %d, want 1012", r.code)
			default:
				offsets = append(offsets, r.at.Sub(start))
			}
		case <-timeout:
			t.Fatalf("only %d of %d connections closed within %v", len(offsets), conns, waitLimit)
		}
	}
	// Spread: no more than a quarter of them within any tenth of the window.
	slices.Sort(offsets)
	tenth := spread / 10
	for i := range offsets {
		j := i
		for j < len(offsets) && offsets[j]-offsets[i] < tenth {
			j++
		}
		if j-i > conns/4 {
			t.Errorf("%d of %d closes within %v of each other (from %v): not spread over %v", j-i, conns, tenth, offsets[i], spread)
			break
		}
	}
	if len(offsets) > 0 && offsets[len(offsets)-1] < spread/2 {
		t.Errorf("all closed within %v: not spread over %v", offsets[len(offsets)-1], spread)
	}
	roundTrip(t, kept, "the kept route's connection after the reload")
}

// TestThousandReloadsLeakNothing: reloads that add and remove pools (with
// health checks), handlers and tail roots leave no goroutine and no file
// descriptor behind.
func TestThousandReloadsLeakNothing(t *testing.T) {
	const reloads = 1000
	a := wstest.EchoServer(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := backendRoute("main", "/ws", a+"/")
	extra := []string{
		backendRoute("pool", "/pool", a+"/", a+"/x") + "    health:\n      path: /healthz\n      interval: 50ms\n      timeout: 20ms\n",
		"  - name: tail\n    path: /logs/*file\n    handler: tail\n    root: logs\n",
		handlerRoute("rooms", "/rooms/:room", "broadcast"),
	}
	ra := startApp(t, dir, reloadConfig("1s", base), listenPlain(t))
	open, _, err := ra.dialWS(t, "/ws")
	if err != nil {
		t.Fatal(err)
	}
	goroutines, fds := runtime.NumGoroutine(), wstest.OpenFDs(t)
	for i := range reloads {
		text := reloadConfig("1s", base)
		if i%2 == 0 {
			text = reloadConfig("1s", append([]string{base}, extra...)...)
		}
		ra.rewrite(t, text)
		if err := ra.app.reload(); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	roundTrip(t, open, "after the reloads")
	// Health check requests and idle transports wind down on their own
	// timers; wait for them.
	wstest.Eventually(t, waitLimit, func() bool {
		return runtime.NumGoroutine() <= goroutines && wstest.OpenFDs(t) <= fds
	})
}

// TestReloadCommand: "wsedge reload" asks the running wsedge, through its
// admin listener, and prints the result: exit 0 when applied, 1 with
// every problem (file and line) when refused.
func TestReloadCommand(t *testing.T) {
	adminAddr := wstest.ClosedAddr(t)
	a := wstest.EchoServer(t)
	withAdmin := func(routes ...string) string {
		return reloadConfig("1s", routes...) + fmt.Sprintf("admin:\n  listen: %q\n", adminAddr)
	}
	main := backendRoute("main", "/ws", a+"/")
	ra := startApp(t, t.TempDir(), withAdmin(main), listenPlain(t))
	wstest.Eventually(t, waitLimit, func() bool {
		resp, err := http.Get("http://" + adminAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	ra.rewrite(t, withAdmin(main, backendRoute("extra", "/extra", a+"/")))
	var stdout, stderr bytes.Buffer
	if code := run([]string{"reload", "-config", ra.path}, &stdout, &stderr); code != 0 || stdout.String() != "reloaded\n" {
		t.Errorf("reload: exit %d, stdout %q, stderr %q; want 0 and \"reloaded\"", code, stdout.String(), stderr.String())
	}
	if _, _, err := ra.dialWS(t, "/extra"); err != nil {
		t.Errorf("the reloaded route: %v", err)
	}

	// A file the running wsedge refuses: it names a CA bundle that does
	// not exist (found when the reload reads it).
	ra.rewrite(t, withAdmin(main, "  - name: secure\n    path: /secure\n    backend: wss://127.0.0.1:1/\n    tls:\n      ca: no-such-ca.pem\n"))
	stdout.Reset()
	stderr.Reset()
	code := run([]string{"reload", "-config", ra.path}, &stdout, &stderr)
	want := `wsedge.yaml:16: routes[1].tls.ca (route "secure"): read CA bundle`
	if code != 1 || !strings.Contains(stderr.String(), "reload refused (422") || !strings.Contains(stderr.String(), want) {
		t.Errorf("refused reload: exit %d, stderr %q; want 1 and %q", code, stderr.String(), want)
	}
	// A file that does not even parse is reported before asking.
	ra.rewrite(t, withAdmin(main, backendRoute("again", "/ws", a+"/")))
	stderr.Reset()
	code = run([]string{"reload", "-config", ra.path}, &stdout, &stderr)
	want = `wsedge.yaml:13: routes[1].path (route "again"): path "/ws" conflicts with routes[0]`
	if code != 1 || !strings.Contains(stderr.String(), want) {
		t.Errorf("broken file: exit %d, stderr %q; want 1 and %q", code, stderr.String(), want)
	}
	if _, _, err := ra.dialWS(t, "/extra"); err != nil {
		t.Errorf("the route of the last good configuration after a refused reload: %v", err)
	}
}

// TestReloadRebindsChangedListeners: a reload that moves the plain
// listener serves new connections on the new address at once, stops
// accepting on the old one, and keeps the connections it accepted; a new
// address that cannot be bound fails the reload as a whole.
func TestReloadRebindsChangedListeners(t *testing.T) {
	a := wstest.EchoServer(t)
	main := backendRoute("main", "/ws", a+"/")
	ra := startApp(t, t.TempDir(), reloadConfig("1s", main), listenPlain(t))
	open, _, err := ra.dialWS(t, "/ws")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, open, "before the move")

	moved := wstest.ClosedAddr(t)
	ra.rewrite(t, strings.Replace(reloadConfig("1s", main), `"127.0.0.1:0"`, fmt.Sprintf("%q", moved), 1))
	if err := ra.app.reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	d := websocket.Dialer{HandshakeTimeout: waitLimit}
	fresh, _, err := d.Dial("ws://"+moved+"/ws", nil)
	if err != nil {
		t.Fatalf("the new address: %v", err)
	}
	defer fresh.Close()
	roundTrip(t, fresh, "on the new listener")
	if c, err := net.Dial("tcp", ra.plainAddr); err == nil {
		c.Close()
		t.Errorf("the old address %s still accepts", ra.plainAddr)
	}
	roundTrip(t, open, "accepted by the retired listener, after the move")

	// An address in use: the reload fails, with the line, and nothing of
	// it applies (not the route it adds either).
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ra.rewrite(t, strings.Replace(reloadConfig("1s", main, backendRoute("extra", "/extra", a+"/")), `"127.0.0.1:0"`, fmt.Sprintf("%q", taken.Addr().String()), 1))
	err = ra.app.reload()
	if err == nil || !strings.Contains(err.Error(), "wsedge.yaml:2: listen.http: listen:") {
		t.Errorf("reload onto a taken address: %v, want a failure naming listen.http at line 2", err)
	}
	if _, resp, _ := d.Dial("ws://"+moved+"/extra", nil); resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("/extra after the failed reload: %v, want 404", resp)
	}
	roundTrip(t, fresh, "after the failed reload")
	roundTrip(t, open, "the first connection, after the failed reload")
}

// TestReloadKeepsBackendCounts: a pool that gains a backend in a reload
// keeps the connection count of the backend it had, so least_conn sends
// the next connections to the new one instead of starting from zero.
func TestReloadKeepsBackendCounts(t *testing.T) {
	a, b := wstest.EchoServer(t), wstest.EchoServer(t)
	// The admin listener turns on the status the test reads.
	withAdmin := fmt.Sprintf("admin:\n  listen: %q\n", wstest.ClosedAddr(t))
	ra := startApp(t, t.TempDir(), reloadConfig("1s", backendRoute("pool", "/pool", a+"/"))+withAdmin, listenPlain(t))
	const each = 3
	for range each {
		if _, _, err := ra.dialWS(t, "/pool"); err != nil {
			t.Fatal(err)
		}
	}
	ra.rewrite(t, reloadConfig("1s", backendRoute("pool", "/pool", a+"/", b+"/"))+withAdmin)
	if err := ra.app.reload(); err != nil {
		t.Fatal(err)
	}
	for range each {
		if _, _, err := ra.dialWS(t, "/pool"); err != nil {
			t.Fatal(err)
		}
	}
	active := map[string]int64{}
	wstest.Eventually(t, waitLimit, func() bool { return ra.app.proxy.ActiveConnections() == 2*each })
	for _, r := range ra.app.proxy.Status().Routes {
		for _, be := range r.Backends {
			active[be.URL] = be.Active
		}
	}
	if active[a+"/"] != each || active[b+"/"] != each {
		t.Errorf("connections by backend after the reload: %v; want %d on each (the first backend kept its count)", active, each)
	}
}

// TestReloadTurnsTLSOnAndOff: a reload that adds the https listener
// serves wss:// at once; one that removes it stops it, and the plain
// listener and its connections are untouched throughout.
func TestReloadTurnsTLSOnAndOff(t *testing.T) {
	a := wstest.EchoServer(t)
	plainOnly := "tls:\n  self_signed: [localhost]\n" + reloadConfig("1s", backendRoute("main", "/ws", a+"/"))
	tlsAddr := wstest.ClosedAddr(t)
	withTLS := strings.Replace(plainOnly, "listen:\n", fmt.Sprintf("listen:\n  https: %q\n", tlsAddr), 1)
	ra := startApp(t, t.TempDir(), plainOnly, listenPlain(t))
	open, _, err := ra.dialWS(t, "/ws")
	if err != nil {
		t.Fatal(err)
	}
	d := websocket.Dialer{HandshakeTimeout: waitLimit, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}

	ra.rewrite(t, withTLS)
	if err := ra.app.reload(); err != nil {
		t.Fatalf("reload adding https: %v", err)
	}
	secure, _, err := d.Dial("wss://"+tlsAddr+"/ws", nil)
	if err != nil {
		t.Fatalf("wss:// after the reload: %v", err)
	}
	defer secure.Close()
	roundTrip(t, secure, "over the new TLS listener")
	roundTrip(t, open, "plain, while TLS came on")

	ra.rewrite(t, plainOnly)
	if err := ra.app.reload(); err != nil {
		t.Fatalf("reload removing https: %v", err)
	}
	if c, err := net.Dial("tcp", tlsAddr); err == nil {
		c.Close()
		t.Errorf("the https listener %s still accepts after its removal", tlsAddr)
	}
	roundTrip(t, secure, "the wss:// connection, after its listener was removed")
	roundTrip(t, open, "plain, after TLS went off")
}

// TestReloadRefusesAMissingCertificate: a reload checks the certificate
// files as validate does; one that no longer loads fails the reload with
// its line, and the certificate in service stays.
func TestReloadRefusesAMissingCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "site.pem"), filepath.Join(dir, "site-key.pem")
	wstest.NewCert(t, wstest.CertOptions{Names: []string{"site.wsedge.test"}}).Install(t, certFile, keyFile)
	a := wstest.EchoServer(t)
	text := "tls:\n  certificates:\n    - cert: site.pem\n      key: site-key.pem\n" + reloadConfig("1s", backendRoute("main", "/ws", a+"/"))
	ra := startApp(t, dir, text, listenPlain(t))
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	ra.rewrite(t, text)
	err := ra.app.reload()
	if want := "wsedge.yaml:4: tls.certificates[0].key: read key"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("reload with the key file gone: %v, want %q", err, want)
	}
	if _, _, err := ra.dialWS(t, "/ws"); err != nil {
		t.Errorf("the running configuration after the refused reload: %v", err)
	}
}

// TestReloadedLimitsApplyToNewConnections: a reload that lowers
// limits.max_message_bytes applies it to connections opened after it; a
// connection opened before keeps the limit it opened with.
func TestReloadedLimitsApplyToNewConnections(t *testing.T) {
	a := wstest.EchoServer(t)
	text := reloadConfig("1s", backendRoute("main", "/ws", a+"/"))
	ra := startApp(t, t.TempDir(), text, listenPlain(t))
	before, _, err := ra.dialWS(t, "/ws")
	if err != nil {
		t.Fatal(err)
	}
	ra.rewrite(t, text+"limits:\n  max_message_bytes: 1KiB\n")
	if err := ra.app.reload(); err != nil {
		t.Fatal(err)
	}
	after, _, err := ra.dialWS(t, "/ws")
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 2048)
	roundTrip(t, before, big) // opened under the 1 MiB limit
	after.SetWriteDeadline(time.Now().Add(waitLimit))
	if err := after.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
		t.Fatal(err)
	}
	after.SetReadDeadline(time.Now().Add(waitLimit))
	if _, _, err := after.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Errorf("a 2 KiB message on a connection opened after the limit became 1 KiB: %v, want close 1009", err)
	}
}

// TestReloadKeepsRemovedRouteWhenAsked: with reload.close_removed: false,
// the connections of a removed route stay open on it.
func TestReloadKeepsRemovedRouteWhenAsked(t *testing.T) {
	a := wstest.EchoServer(t)
	keep := "reload:\n  close_removed: false\n"
	ra := startApp(t, t.TempDir(), reloadConfig("1s", backendRoute("main", "/ws", a+"/"), backendRoute("old", "/old", a+"/"))+keep, listenPlain(t))
	c, _, err := ra.dialWS(t, "/old")
	if err != nil {
		t.Fatal(err)
	}
	ra.rewrite(t, reloadConfig("1s", backendRoute("main", "/ws", a+"/"))+keep)
	if err := ra.app.reload(); err != nil {
		t.Fatal(err)
	}
	if _, resp, _ := ra.dialWS(t, "/old"); resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("the removed route still takes handshakes: %v", resp)
	}
	for i := range 3 {
		roundTrip(t, c, fmt.Sprintf("on the removed route %d", i))
	}
	if strings.Contains(ra.logs.String(), "route or backend removed") {
		t.Errorf("a connection was closed for its removed route:\n%s", ra.logs)
	}
}
