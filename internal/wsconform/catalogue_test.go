package wsconform

import (
	"strings"
	"testing"
)

// TestCatalogue checks that every case is complete and named as the
// package documents: Autobahn's ID, or a variant with a slash.
func TestCatalogue(t *testing.T) {
	seen := make(map[string]bool)
	for _, c := range Cases() {
		if seen[c.ID] {
			t.Errorf("%s: duplicate ID", c.ID)
		}
		seen[c.ID] = true
		variant := strings.Contains(c.ID, "/")
		switch {
		case variant && c.Autobahn != "":
			t.Errorf("%s: a variant must not claim Autobahn ID %q", c.ID, c.Autobahn)
		case !variant && c.Autobahn != c.ID:
			t.Errorf("%s: Autobahn ID %q, want the case ID", c.ID, c.Autobahn)
		}
		if c.Description == "" || c.Expectation == "" {
			t.Errorf("%s: description or expectation missing", c.ID)
		}
		if len(c.Steps) == 0 {
			t.Errorf("%s: no steps", c.ID)
		}
		if c.Expect.Wait <= 0 {
			t.Errorf("%s: no wait", c.ID)
		}
		if len(c.Expect.CloseCodes) == 0 {
			t.Errorf("%s: no accepted close code", c.ID)
		}
		for _, st := range c.Steps {
			for _, f := range st.frames {
				if n := len(f.Payload); n > 1<<20 {
					t.Errorf("%s: a %d-byte frame, over the 1 MiB bound", c.ID, n)
				}
			}
		}
	}
	for _, id := range []string{"1.1.8", "2.11", "3.7", "4.2.5", "5.20", "6.3.2", "7.9.9", "7.13.2", "9.2.3"} {
		if !seen[id] {
			t.Errorf("catalogue lacks %s", id)
		}
	}
}

// TestCasesAreFresh: callers may change the cases they get.
func TestCasesAreFresh(t *testing.T) {
	a := Cases()
	a[0].ID = "changed"
	a[0].Steps[0].frames[0].Payload = []byte("changed")
	b := Cases()
	if b[0].ID == "changed" || string(b[0].Steps[0].frames[0].Payload) == "changed" {
		t.Error("a second call to Cases shares state with the first")
	}
}
