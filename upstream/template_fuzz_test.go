package upstream

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/julienschmidt/httprouter"
)

// FuzzURLTemplate: whatever the template and the parameter values, Expand
// never panics, and what it returns is a URL on the template's own host
// whose path has no "." or ".." segment (the values cannot climb above
// the template's path or add URL structure).
func FuzzURLTemplate(f *testing.F) {
	f.Add("ws://127.0.0.1:8765/light/{status}", "on", "x=1")
	f.Add("ws://127.0.0.1:4040/{file}?tail=1", "/app/../../etc/passwd", "")
	f.Add("wss://backend.internal/rooms/{room}/ws", "a%2F..%2F?b#c", "q=%2e%2e")
	f.Add("ws+unix:///run/app.sock:/logs/{file}", "/a/b/./c", "")
	f.Fuzz(func(t *testing.T, template, value, rawQuery string) {
		tpl, err := ParseURLTemplate(template)
		if err != nil {
			return
		}
		// The query comes from a request net/http has parsed: as such.
		// One with a broken escape ("%zz") is passed on as it is, and the
		// backend dial refuses it (502): not this property's concern.
		req, err := url.ParseRequestURI("/?" + rawQuery)
		if err != nil {
			return
		}
		rawQuery = req.RawQuery
		if _, err := url.QueryUnescape(strings.ReplaceAll(rawQuery, "#", "%23")); err != nil {
			return
		}
		params := httprouter.Params{}
		for _, p := range tpl.parts {
			if p.param != "" {
				params = append(params, httprouter.Param{Key: p.param, Value: value})
			}
		}
		for _, forHTTP := range []bool{false, true} {
			out, err := tpl.Expand(params, rawQuery, forHTTP)
			if errors.Is(err, ErrBadParam) {
				continue
			}
			if err != nil {
				t.Fatalf("Expand(%q): %v", value, err)
			}
			u, err := url.Parse(out)
			if err != nil {
				t.Fatalf("Expand gave %q, which does not parse: %v", out, err)
			}
			if u.Host != tpl.host {
				t.Fatalf("Expand of %q moved the host: %q, want %q", value, u.Host, tpl.host)
			}
			for _, seg := range strings.Split(u.EscapedPath(), "/") {
				if s := strings.ReplaceAll(strings.ToLower(seg), "%2e", "."); s == "." || s == ".." {
					t.Fatalf("Expand of %q gave a dot segment: %q", value, out)
				}
			}
		}
	})
}
