package conftypes

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
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

// TestParseDurationKeepsGoSyntax: every string time.ParseDuration takes
// means the same, and every one it refuses is still refused.
func TestParseDurationKeepsGoSyntax(t *testing.T) {
	for _, in := range []string{
		"0", "-0", "+0", "30s", "1m30s", "250ms", "1.5h", "-5s", "+2m", "1h2m3s4ms5us6ns", "3µs", "3μs", ".5s", "2562047h",
		"", "-", "s", "1", "1 s", "3 minutes", "soon", "1m-5s", "1x", "1e5s", "..s", "9223372036854775808ns", "2562048h",
	} {
		want, wantErr := time.ParseDuration(in)
		got, err := ParseDuration(in)
		if (err != nil) != (wantErr != nil) || got != want {
			t.Errorf("ParseDuration(%q): got %v, %v; want %v, %v", in, got, err, want, wantErr)
		}
	}
}

func TestParseDurationDaysAndYears(t *testing.T) {
	good := []struct {
		in   string
		want time.Duration
	}{
		{"1d", 24 * time.Hour},
		{"1y", 365 * 24 * time.Hour},
		{"180d", 180 * 24 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1y30d", 395 * 24 * time.Hour},
		{"12h1d", 36 * time.Hour}, // any order, as Go allows for its units
		{"2y1d1s", (2*365+1)*24*time.Hour + time.Second},
		{"-1d", -24 * time.Hour},
		{"292y", 292 * Year},
	}
	for _, c := range good {
		if got, err := ParseDuration(c.in); err != nil || got != c.want {
			t.Errorf("ParseDuration(%q): got %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"d", "1dd", "1 d", "1D", "1Y", "1yr", "1day", "293y", "292y1y", "200y200y"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q): got %v, want an error", in, got)
		}
	}
}

func TestDurationYAML(t *testing.T) {
	var v struct {
		HSTS Duration `yaml:"hsts"`
		Zero Duration `yaml:"zero"`
	}
	if err := yaml.Unmarshal([]byte("hsts: 1y\nzero: 0\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.HSTS.D() != Year || v.Zero != 0 {
		t.Errorf("got hsts %v, zero %v; want %v, 0", v.HSTS, v.Zero, Year)
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		HSTS Duration `yaml:"hsts"`
	}
	if err := yaml.Unmarshal(out, &back); err != nil || back.HSTS != v.HSTS {
		t.Errorf("round trip through %q: got %v, %v; want %v", out, back.HSTS, err, v.HSTS)
	}
	err = yaml.Unmarshal([]byte("hsts: 1 year\n"), &v)
	if err == nil || !strings.Contains(err.Error(), `line 1: invalid duration "1 year"`) {
		t.Errorf("hsts: 1 year: got %v, want an invalid duration error on line 1", err)
	}
}
