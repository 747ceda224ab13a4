package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	// File is the configuration's name as given.
	File string
	// Line is where the problem is, 1-based.
	Line int
	// Path is the field at fault ("routes[2].backend"), when known.
	Path string
	// Route labels the route the field belongs to, when it is in one.
	Route string
	// Message says what is wrong.
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	if p.Path != "" {
		b.WriteString(p.Path)
		if p.Route != "" {
			fmt.Fprintf(&b, " (route %q)", p.Route)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Errors is every problem found in a configuration, in line order.
type Errors struct {
	Problems []Problem
}

func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// splitYAMLLine takes the "line N:" prefix off a yaml.v3 message.
func splitYAMLLine(msg string) (int, string) {
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}
