package interop

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wsedge/wsedge/internal/wstest"
)

// browser is a headless Chromium started for one test, which trusts the
// test's certificate for wsedge's wss:// and https:// and nothing else
// extra.
type browser struct {
	ctx context.Context // the browser's first tab; Run on it started the browser
}

// startChromium starts headless Chromium with a fresh profile, told to
// accept cert (by the SHA-256 of its public key,
// --ignore-certificate-errors-spki-list, which Chromium honours only with
// --user-data-dir): a certificate made by the test is then as good as a
// trusted one for this browser, and any other error still fails. The
// browser is stopped and waited for when the test ends.
func startChromium(t *testing.T, cert *wstest.Cert) *browser {
	t.Helper()
	bin := wstest.Chromium(t)
	spki := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.NoFirstRun,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc) // kills the browser and waits for it
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	// The first action starts the browser, which lives as long as the
	// context of that call: no timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{ctx: ctx}
}

// tab opens a new tab, closed when the test ends.
func (b *browser) tab(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// navigate loads url in tab and returns the HTTP status of the page.
func navigate(t *testing.T, tab context.Context, url string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, waitLimit)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("chromium: open %s: %v", url, err)
	}
	return resp.Status
}

// evalJS evaluates expr in tab, awaiting it if it is a promise, and
// decodes its value into T. A rejected promise or an exception fails
// the test.
func evalJS[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, waitLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("chromium: %s: %v", abbreviate(expr), err)
	}
	return v
}

// jsCall is the JavaScript call of fn with args encoded as JSON.
func jsCall(fn string, args ...any) string {
	s := fn + "("
	for i, a := range args {
		b, _ := json.Marshal(a)
		if i > 0 {
			s += ", "
		}
		s += string(b)
	}
	return s + ")"
}

// waitJS polls expr in tab until it is true, for up to waitLimit.
func waitJS(t *testing.T, tab context.Context, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, waitLimit+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(waitLimit))); err != nil {
		t.Fatalf("chromium: %s: %v", what, err)
	}
}

func abbreviate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// pageMessage is what the page's interop.next reports of a message.
type pageMessage struct {
	Kind   string `json:"kind"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
	Text   string `json:"text"`
}

// pageOpen is what the page's interop.open reports of a handshake.
type pageOpen struct {
	Protocol   string `json:"protocol"`
	Extensions string `json:"extensions"`
}

// pageClose is a CloseEvent as the page reports it.
type pageClose struct {
	Code     int    `json:"code"`
	Reason   string `json:"reason"`
	WasClean bool   `json:"wasClean"`
}

// startPageServer serves testdata/browser (the page the browser tests
// load, and payload.js) over plain HTTP on loopback; wsedge proxies it
// to the browser over https, so the page's origin is wsedge's. It
// returns the server's host:port.
func startPageServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir("testdata/browser")))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}
