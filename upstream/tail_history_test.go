package upstream

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestTailHistoryStart: where the last lines begin, found reading
// backwards through the session's one buffer, without allocating
// whatever the file or the lines asked for (a handshake used to read up
// to 8 MiB of history into a buffer of its own).
func TestTailHistoryStart(t *testing.T) {
	dir := t.TempDir()
	mb := bytes.Repeat([]byte("x"), 1<<20)
	long := bytes.Join([][]byte{mb, mb, mb}, nil) // a 3 MiB line
	cases := []struct {
		name    string
		content []byte
		lines   int
		want    int64
	}{
		{"last two of three", []byte("a\nb\nc\n"), 2, 2},
		{"an unfinished last line waits", []byte("a\nb\nc\npart"), 2, 2},
		{"more asked than there are", []byte("a\nb\n"), 10, 0},
		{"none asked", []byte("a\nb\n"), 0, 4},
		{"empty file", nil, 5, 0},
		// 9 MiB of 3 MiB lines: 8 MiB back holds too few line ends, so
		// history starts at the first line start within that reach.
		{"beyond the history bound", bytes.Join([][]byte{long, long, long}, []byte("\n")), 10, int64(len(long)) + 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(dir, "f.log")
			if err := os.WriteFile(name, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s := &tailSession{tail: &tail{lines: tc.lines}, f: f, buf: make([]byte, tailReadChunk)}
			var got int64
			allocs := testing.AllocsPerRun(3, func() {
				if got, err = s.historyStart(int64(len(tc.content))); err != nil {
					t.Fatal(err)
				}
			})
			if got != tc.want {
				t.Errorf("history starts at %d, want %d", got, tc.want)
			}
			if allocs > 0 {
				t.Errorf("%v allocations finding the history, want none", allocs)
			}
		})
	}
}
