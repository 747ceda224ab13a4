package admin

import (
	_ "embed"
	"net/http"
)

// pageHTML is the admin page: one file, no external assets; it draws
// what /live sends.
//
//go:embed page/index.html
var pageHTML []byte

func servePage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The page loads nothing from elsewhere and talks only to this server.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(pageHTML)
}
