package config

import (
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Paths name fields the way conftypes.FieldError does: dot-separated keys
// with list indexes in brackets ("routes[2].backend").

var pathTokenRE = regexp.MustCompile(`[^.\[\]]+|\[\d+\]`)

// nodeAt returns the node at path, or nil if the document has none there.
func nodeAt(root *yaml.Node, path string) *yaml.Node {
	n := root
	for _, tok := range pathTokenRE.FindAllString(path, -1) {
		if n = child(n, tok); n == nil {
			return nil
		}
	}
	return n
}

// lineOf returns the line of the node at path, or of its nearest ancestor
// present in the document (a missing key is reported where its mapping is).
func lineOf(root *yaml.Node, path string) int {
	n, line := root, root.Line
	for _, tok := range pathTokenRE.FindAllString(path, -1) {
		keyLine := 0
		if !strings.HasPrefix(tok, "[") && n.Kind == yaml.MappingNode {
			if k := mappingKey(n, tok); k != nil {
				keyLine = k.Line
			}
		}
		if n = child(n, tok); n == nil {
			break
		}
		line = n.Line
		if keyLine != 0 {
			line = keyLine
		}
	}
	return line
}

func child(n *yaml.Node, tok string) *yaml.Node {
	if strings.HasPrefix(tok, "[") {
		i, _ := strconv.Atoi(strings.Trim(tok, "[]"))
		if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
			return nil
		}
		return n.Content[i]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	return mappingValue(n, tok)
}

func mappingKey(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// pathAtLine returns the path of the first value that starts on line, for
// errors yaml.v3 reports by line only.
func pathAtLine(n *yaml.Node, line int) string {
	path, _ := findLine(n, line, "")
	return path
}

func findLine(n *yaml.Node, line int, path string) (string, bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			if v.Kind == yaml.ScalarNode && (v.Line == line || k.Line == line) {
				return p, true
			}
			if found, ok := findLine(v, line, p); ok {
				return found, true
			}
			if k.Line == line {
				return p, true
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			if c.Kind == yaml.ScalarNode && c.Line == line {
				return p, true
			}
			if found, ok := findLine(c, line, p); ok {
				return found, true
			}
		}
	}
	return "", false
}

// coveredBy reports whether path is one of bad or lies under one.
func coveredBy(path string, bad []string) bool {
	for _, b := range bad {
		if b != "" && (path == b || strings.HasPrefix(path, b+".") || strings.HasPrefix(path, b+"[")) {
			return true
		}
	}
	return false
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
