package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wsedge/wsedge/internal/wstest"
)

// TestAdminPageInChromium opens the admin page in headless Chromium and
// watches it follow a connection live: the route's count goes up within
// 2 s of a WebSocket opening through wsedge, and back down after it
// closes.
func TestAdminPageInChromium(t *testing.T) {
	browser := wstest.Chromium(t)
	adminAddr := wstest.ClosedAddr(t)
	echo := wstest.EchoServer(t)
	ra := startApp(t, t.TempDir(), reloadConfig("1s", backendRoute("main", "/ws", echo+"/"), handlerRoute("echo", "/echo", "echo"))+
		fmt.Sprintf("admin:\n  listen: %q\n", adminAddr), listenPlain(t))

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first action starts the browser, which lives as long as the
	// context of that call: no timeout on it.
	if err := chromedp.Do(browserCtx, chromedp.Navigate("http://"+adminAddr+"/")); err != nil {
		t.Fatalf("open the admin page: %v", err)
	}
	// pageShows waits, in the browser, up to limit for the page's
	// connection count of route main to read want.
	pageShows := func(want string, limit time.Duration) error {
		ctx, cancel := context.WithTimeout(browserCtx, limit+5*time.Second)
		defer cancel()
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(
			`(document.querySelector('tr[data-route="main"] td[data-field="connections"]') || {}).textContent === %q`, want),
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(limit)))
		return err
	}
	if err := pageShows("0", 10*time.Second); err != nil {
		t.Fatalf("the page does not show route main with 0 connections: %v", err)
	}

	c, _, err := ra.dialWS(t, "/ws")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "seen by the admin page")
	if err := pageShows("1", 2*time.Second); err != nil {
		t.Errorf("2 s after a connection opened the page does not show 1: %v", err)
	}
	c.Close()
	if err := pageShows("0", 5*time.Second); err != nil {
		t.Errorf("after the connection closed the page does not show 0: %v", err)
	}
	ctx, cancel := context.WithTimeout(browserCtx, 10*time.Second)
	defer cancel()
	closes, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#closes")))
	if err != nil || !strings.Contains(closes, "main") {
		t.Errorf("last closes on the page: %q (%v), want the connection on main", closes, err)
	}
}
