package conftypes

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as a Go duration string
// ("30s", "1m30s", "250ms"), optionally with the calendar-free units d
// (24h) and y (365d) that long settings such as tls.hsts read best in
// ("1y", "180d", "1d12h"), or as the bare number 0.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// Units ParseDuration adds to Go's. A day is 24 hours and a year 365
// days: fixed lengths, as RFC 6797's max-age counts seconds, not dates.
const (
	Day  = 24 * time.Hour
	Year = 365 * Day
)

// ParseDuration parses a duration as time.ParseDuration does, and also
// accepts the units d (Day) and y (Year), alone or combined with the
// others in any order ("1y", "1d12h", "1.5d").
func ParseDuration(s string) (time.Duration, error) {
	rest, neg := s, false
	if rest != "" && (rest[0] == '-' || rest[0] == '+') {
		neg, rest = rest[0] == '-', rest[1:]
	}
	if rest == "0" {
		return 0, nil
	}
	if rest == "" {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	var total time.Duration
	for rest != "" {
		num := len(rest) - len(strings.TrimLeft(rest, "0123456789."))
		unit := len(rest[num:]) - len(strings.TrimLeft(rest[num:], "abcdefghijklmnopqrstuvwxyzµμ"))
		if num == 0 || unit == 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		part, err := durationPart(rest[:num], rest[num:num+unit])
		if err != nil || part > time.Duration(1<<63-1)-total {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		total += part
		rest = rest[num+unit:]
	}
	if neg {
		total = -total
	}
	return total, nil
}

// durationPart is one number and its unit.
func durationPart(num, unit string) (time.Duration, error) {
	var factor time.Duration
	switch unit {
	case "d":
		factor = 24
	case "y":
		factor = 24 * 365
	default:
		return time.ParseDuration(num + unit)
	}
	// Parsed as hours so fractions ("1.5d") work as Go's units do.
	h, err := time.ParseDuration(num + "h")
	if err != nil {
		return 0, err
	}
	if h > time.Duration(1<<63-1)/factor {
		return 0, fmt.Errorf("%s%s is too long", num, unit)
	}
	return h * factor, nil
}

// UnmarshalYAML parses a duration string. Errors are returned as
// *yaml.TypeError so the decoder keeps going and reports every bad value
// in the file at once, each with its line.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "want a duration such as 30s, got a %s", kindName(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return typeError(n, "invalid duration %q: want a number with a unit such as 500ms, 30s, 1m, 1d or 1y", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d back as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func typeError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, fmt.Sprintf(format, args...))}}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	default:
		return "value"
	}
}
