package upstream

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestUTF8Reader(t *testing.T) {
	cases := []struct {
		in    string
		valid bool
	}{
		{"plain ascii", true},
		{"héllo wörld, 日本語, 🎉🎉", true},
		{"", true},
		{"bad \xff byte", false},
		{"cut at the end \xe6\x97", false},
		{"overlong \xc0\xaf", false},
		{"surrogate \xed\xa0\x80", false},
		{"\xf4\x90\x80\x80 above U+10FFFF", false},
	}
	for _, tc := range cases {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = bytes.NewReader([]byte(tc.in))
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			_, err := io.ReadAll(&utf8Reader{r: r})
			if got := !errors.Is(err, errInvalidUTF8); got != tc.valid || (tc.valid && err != nil) {
				t.Errorf("%q (one byte per read %v): err %v, want valid=%v", tc.in, oneByte, err, tc.valid)
			}
		}
	}
}
