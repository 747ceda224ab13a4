package conftypes

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Size is a byte count written in YAML as a bare number of bytes or as a
// number with one of the binary units B, KiB, MiB or GiB ("1MiB", "64 KiB").
// Decimal units (KB, MB) are refused rather than guessed at.
type Size int64

var sizeUnits = []struct {
	suffix string
	factor int64
}{
	// Longest suffixes first so "KiB" is not read as "B".
	{"KiB", 1 << 10},
	{"MiB", 1 << 20},
	{"GiB", 1 << 30},
	{"B", 1},
}

// ParseSize parses a size such as "1MiB" or "4096".
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	num, factor := s, int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, factor = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q: want a whole number of B, KiB, MiB or GiB, such as 1MiB", s)
	}
	if n > (1<<62)/factor {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Size(n * factor), nil
}

// UnmarshalYAML parses a size; see Duration.UnmarshalYAML for why errors
// are *yaml.TypeError.
func (z *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "want a size such as 1MiB, got a %s", kindName(n))
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return typeError(n, "%v", err)
	}
	*z = v
	return nil
}

// String formats z with the largest binary unit that divides it exactly.
func (z Size) String() string {
	switch {
	case z != 0 && z%(1<<30) == 0:
		return strconv.FormatInt(int64(z)>>30, 10) + "GiB"
	case z != 0 && z%(1<<20) == 0:
		return strconv.FormatInt(int64(z)>>20, 10) + "MiB"
	case z != 0 && z%(1<<10) == 0:
		return strconv.FormatInt(int64(z)>>10, 10) + "KiB"
	}
	return strconv.FormatInt(int64(z), 10) + "B"
}

// MarshalYAML writes z back in its String form.
func (z Size) MarshalYAML() (any, error) { return z.String(), nil }
