package forwardauth

import (
	"strings"
	"testing"
)

// FuzzRedactURI: whatever the URI, redaction never panics, is stable
// (redacting twice changes nothing more), keeps every parameter in its
// place, and leaves no secret parameter with its value.
func FuzzRedactURI(f *testing.F) {
	for _, seed := range []string{"/ws?token=abc&room=1", "/ws?access_token=x;Token=y#z", "/?to%6Ben=a", "/plain", "?=&&;=", "/ws?token"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		out := RedactURI(uri)
		if again := RedactURI(out); again != out {
			t.Fatalf("RedactURI(%q) = %q, then %q", uri, out, again)
		}
		_, inQuery, _ := strings.Cut(uri, "?")
		_, outQuery, _ := strings.Cut(out, "?")
		in, got := splitParams(inQuery), splitParams(outQuery)
		if len(in) != len(got) {
			t.Fatalf("RedactURI(%q) = %q: %d parameters, want %d", uri, out, len(got), len(in))
		}
		for i, p := range got {
			name, value, hasValue := strings.Cut(p, "=")
			switch {
			case hasValue && secretParam(name) && value != redacted:
				t.Fatalf("RedactURI(%q) = %q: %q keeps its value", uri, out, p)
			case (!hasValue || !secretParam(name)) && p != in[i]:
				t.Fatalf("RedactURI(%q) = %q: %q became %q", uri, out, in[i], p)
			}
		}
	})
}

// splitParams splits a query as RedactURI does.
func splitParams(q string) []string {
	if q == "" {
		return nil
	}
	return strings.FieldsFunc(q+"&", func(r rune) bool { return r == '&' || r == ';' })
}
