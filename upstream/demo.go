package upstream

import (
	_ "embed"
	"net/http"
)

//go:embed assets/demo.html
var demoHTML []byte

// demoPage serves a small page from which a person can open the default
// configuration's echo and chat sockets in a browser.
type demoPage struct{}

func newDemoPage() http.Handler { return demoPage{} }

func (demoPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	w.Write(demoHTML)
}
