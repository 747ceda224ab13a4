package conftypes

import (
	"errors"
	"testing"
)

func TestParseSize(t *testing.T) {
	good := map[string]Size{"0": 0, "4096": 4096, "10B": 10, "64KiB": 64 << 10, "1MiB": 1 << 20, "2 GiB": 2 << 30}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q): got %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"1MB", "1.5MiB", "-1", "KiB", "lots", "99999999999GiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): accepted, want an error", in)
		}
	}
	if s := Size(1 << 20).String(); s != "1MiB" {
		t.Errorf("String: got %q, want 1MiB", s)
	}
}

func TestUnderPrefixesPaths(t *testing.T) {
	inner := errors.Join(Field("backend", errors.New("bad")), errors.New("plain"),
		&FieldError{Path: "path", Related: []string{"[0].path"}, Err: errors.New("conflict")})
	var paths, related []string
	for _, e := range Flatten(Under("routes[2]", inner)) {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a FieldError", e)
		}
		paths = append(paths, fe.Path)
		related = append(related, fe.Related...)
	}
	want := []string{"routes[2].backend", "routes[2]", "routes[2].path"}
	for i := range want {
		if paths[i] != want[i] {
			t.Errorf("path %d: got %q, want %q", i, paths[i], want[i])
		}
	}
	if len(related) != 1 || related[0] != "routes[2][0].path" {
		t.Errorf("related: got %q", related)
	}
}
