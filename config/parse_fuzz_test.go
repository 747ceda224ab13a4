package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: whatever the file holds, the loader never panics, and it
// either returns a configuration that validates or *Errors whose every
// line names the file and a line number.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"good_minimal.yaml", "bad_many.yaml", "bad_pool.yaml", "bad_syntax.yaml", "bad_unknown_key.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	example, err := os.ReadFile(filepath.Join("..", "config.example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add(defaultYAML)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data, dir)
		if err == nil {
			if verr := file.Validate(); verr != nil {
				t.Fatalf("Parse accepted a configuration that does not validate: %v", verr)
			}
			return
		}
		var errs *Errors
		if !errors.As(err, &errs) {
			t.Fatalf("Parse returned %T %v, want *Errors", err, err)
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "fuzz.yaml:") {
				t.Fatalf("an error without the file and line: %q", line)
			}
		}
	})
}
