package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wsedge/wsedge/internal/conftypes"
)

var typeOfFile = reflect.TypeOf(File{})

// parser collects the problems of one file.
type parser struct {
	name     string
	problems []Problem
	root     *yaml.Node
	hint     string // added to a syntax error
}

func (p *parser) add(line int, path string, err error) {
	// One problem is one line of output: a value quoted in a message
	// (a YAML error quotes the text it choked on) may hold line breaks.
	msg := strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(err.Error())
	p.problems = append(p.problems, Problem{File: p.name, Line: line, Path: path, Route: p.routeLabel(path), Message: msg})
}

func (p *parser) result() error {
	if len(p.problems) == 0 {
		return nil
	}
	sortProblems(p.problems)
	return &Errors{Problems: p.problems}
}

// flowPlaceholderRE finds a {placeholder} inside a [ ] list, which YAML
// reads as the start of a mapping: the classic way to break a backends
// list.
var flowPlaceholderRE = regexp.MustCompile(`:\s*\[[^\]#]*\{`)

// syntaxHint explains the syntax errors people actually make.
func syntaxHint(data []byte) string {
	for i, line := range strings.Split(string(data), "\n") {
		if flowPlaceholderRE.MatchString(line) {
			return fmt.Sprintf(" (line %d: inside [ ] a URL with {placeholders} must be quoted, as in [\"ws://host/{x}\"], or list one URL per line with \"- \")", i+1)
		}
	}
	return ""
}

func (p *parser) syntaxError(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, msg := range te.Errors {
			line, text := splitYAMLLine(msg)
			p.add(max(line, 1), "", errors.New(text))
		}
		return
	}
	line, text := splitYAMLLine(err.Error())
	p.add(max(line, 1), "", fmt.Errorf("YAML syntax: %s%s", text, p.hint))
}

// decode fills f from root. yaml.v3 keeps going after a bad value and
// lists them all with their lines; each is reported, and the paths of the
// bad values are returned so Validate's complaints about them (now zero)
// are not reported twice.
func (p *parser) decode(root *yaml.Node, f *File) []string {
	err := root.Decode(f)
	if err == nil {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		p.add(root.Line, "", err)
		return nil
	}
	var bad []string
	for _, msg := range te.Errors {
		line, text := splitYAMLLine(msg)
		path := pathAtLine(root, line)
		bad = append(bad, path)
		p.add(max(line, 1), path, errors.New(friendlyTypeError(text)))
	}
	return bad
}

var unmarshalRE = regexp.MustCompile("^cannot unmarshal !!(\\w+) `?(.*?)`? into (.+)$")

// friendlyTypeError rewords yaml.v3's "cannot unmarshal !!str `x` into
// int" without Go type names.
func friendlyTypeError(msg string) string {
	m := unmarshalRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	want := m[3]
	switch {
	case strings.HasPrefix(want, "[]"):
		want = "a list"
	case want == "int", want == "int64":
		want = "a whole number"
	case want == "bool":
		want = "true or false"
	case want == "string":
		want = "a string"
	default:
		want = "a mapping"
	}
	return fmt.Sprintf("want %s, got %s %q", want, yamlKind(m[1]), m[2])
}

func yamlKind(tag string) string {
	switch tag {
	case "map":
		return "a mapping"
	case "seq":
		return "a list"
	case "str":
		return "the string"
	}
	return "the " + tag
}

// addField reports a Validate error at its field's line; related fields
// are named with their lines.
func (p *parser) addField(root *yaml.Node, fe *conftypes.FieldError) {
	msg := fe.Err.Error()
	for _, rel := range fe.Related {
		msg += fmt.Sprintf(" (see line %d)", lineOf(root, rel))
	}
	p.add(lineOf(root, fe.Path), fe.Path, errors.New(msg))
}

// checkKeys reports keys that no field of t takes, walking the document
// alongside the Go types, so a typo ("bakend") is an error naming the key
// and its line rather than a silently ignored setting.
func (p *parser) checkKeys(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // a type error; decode reports it
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			ft, ok := fields[key.Value]
			if !ok {
				p.add(key.Line, path, unknownKey(key.Value, fields))
				continue
			}
			p.checkKeys(val, ft, joinPath(path, key.Value))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			p.checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// yamlFields maps a struct's YAML keys to field types, following inlined
// structs.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if opts == "inline" {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func unknownKey(key string, fields map[string]reflect.Type) error {
	best, bestDist := "", 3
	for k := range fields {
		if d := editDistance(key, k); d < bestDist || d == bestDist && k < best {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Errorf("unknown key %q (did you mean %q?)", key, best)
	}
	return fmt.Errorf("unknown key %q", key)
}

// editDistance is the Levenshtein distance, for "did you mean" hints.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// routeLabel names the route a path is in: its name, or its path.
func (p *parser) routeLabel(path string) string {
	m := routeIndexRE.FindStringSubmatch(path)
	if m == nil || p.root == nil {
		return ""
	}
	i, _ := strconv.Atoi(m[1])
	item := nodeAt(p.root, "routes["+m[1]+"]")
	if item == nil || item.Kind != yaml.MappingNode {
		return fmt.Sprintf("#%d", i+1)
	}
	for _, key := range []string{"name", "path"} {
		if v := mappingValue(item, key); v != nil && v.Value != "" {
			return v.Value
		}
	}
	return fmt.Sprintf("#%d", i+1)
}

var routeIndexRE = regexp.MustCompile(`^routes\[(\d+)\]`)
