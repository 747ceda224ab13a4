package hophdr

import (
	"net/http"
	"testing"
)

// TestRemove: the listed headers and those Connection names go, the
// message's own headers stay.
func TestRemove(t *testing.T) {
	h := http.Header{
		"Connection":      {"keep-alive, X-Hop", " x-other "},
		"X-Hop":           {"1"},
		"X-Other":         {"2"},
		"Upgrade":         {"websocket"},
		"Te":              {"trailers"},
		"Keep-Alive":      {"timeout=5"},
		"Cookie":          {"a=b"},
		"Authorization":   {"Bearer x"},
		"X-Forwarded-For": {"192.0.2.1"},
	}
	Remove(h)
	for _, gone := range []string{"Connection", "X-Hop", "X-Other", "Upgrade", "Te", "Keep-Alive"} {
		if _, ok := h[gone]; ok {
			t.Errorf("%s kept", gone)
		}
	}
	for _, kept := range []string{"Cookie", "Authorization", "X-Forwarded-For"} {
		if h.Get(kept) == "" {
			t.Errorf("%s removed", kept)
		}
	}
}
