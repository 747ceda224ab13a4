package upstream

import (
	"errors"
	"strings"
	"testing"

	"github.com/julienschmidt/httprouter"
)

func TestParseURLTemplate(t *testing.T) {
	bad := map[string]string{
		"http://127.0.0.1/x":           "must be ws://, wss://",
		"ws+unix://relative.sock:/x":   "absolute",
		"127.0.0.1:8765/x":             "is not a URL",
		"ws://127.0.0.1/x#frag":        "fragment",
		"ws://{host}:80/":              "plain host",
		"ws://u:p@127.0.0.1/":          "plain host",
		"ws://127.0.0.1/x?id={id}":     "only in the path",
		"ws://127.0.0.1/{bad-name}":    "want a name",
		"ws://127.0.0.1/{open":         "unbalanced",
		"ws://127.0.0.1/a/../b/{x}":    ". or .. segment",
		"ws://127.0.0.1/%zz/{x}":       "invalid URL escape",
		"ws://127.0.0.1/x/%2e%2e/{id}": ". or .. segment",
	}
	for in, want := range bad {
		if _, err := ParseURLTemplate(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURLTemplate(%q): got %v, want an error saying %q", in, err, want)
		}
	}
	tpl, err := ParseURLTemplate("wss://backend.internal:9000/rooms/{room}/{rest}?v=2")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tpl.Params(), ","); got != "room,rest" {
		t.Errorf("Params: got %q", got)
	}
	if tpl.String() != "wss://backend.internal:9000/rooms/{room}/{rest}?v=2" {
		t.Errorf("String: got %q", tpl.String())
	}
}

func TestExpandEscapesParams(t *testing.T) {
	tpl, err := ParseURLTemplate("ws://127.0.0.1:8765/light/{status}/{rest}?v=2")
	if err != nil {
		t.Fatal(err)
	}
	params := func(status, rest string) httprouter.Params {
		return httprouter.Params{{Key: "status", Value: status}, {Key: "rest", Value: rest}}
	}
	cases := []struct {
		status, rest, query string
		forHTTP             bool
		want                string
		wantErr             error
	}{
		{"on", "/a/b", "", false, "ws://127.0.0.1:8765/light/on/a/b?v=2", nil},
		{"on", "/a/b", "t=1", true, "http://127.0.0.1:8765/light/on/a/b?v=2&t=1", nil},
		{"a?b#c%d", "/x y", "", false, "ws://127.0.0.1:8765/light/a%3Fb%23c%25d/x%20y?v=2", nil},
		// Only a catch-all value can hold a "/" (httprouter's :name is one
		// segment); it stays a separator, checked for dot segments.
		{"a/b", "/", "", false, "ws://127.0.0.1:8765/light/a/b/?v=2", nil},
		{"..", "/x", "", false, "", ErrBadParam},
		{"on", "/a/../../etc", "", false, "", ErrBadParam},
		{"on", "/./x", "", false, "", ErrBadParam},
	}
	for _, tc := range cases {
		got, err := tpl.Expand(params(tc.status, tc.rest), tc.query, tc.forHTTP)
		if !errors.Is(err, tc.wantErr) || got != tc.want {
			t.Errorf("Expand(%q, %q): got %q, %v; want %q, %v", tc.status, tc.rest, got, err, tc.want, tc.wantErr)
		}
	}
}
