package upstream

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// hashKey is what balance: hash hashes, from a hash_key setting.
type hashKey struct {
	kind string // "param", "header", "cookie" or "client_ip"
	name string
}

func parseHashKey(s string) (hashKey, error) {
	if s == "client_ip" {
		return hashKey{kind: "client_ip"}, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if s == "" {
		return hashKey{}, errors.New("required with balance: hash: param:NAME, header:NAME, cookie:NAME or client_ip")
	}
	if !ok || name == "" || (kind != "param" && kind != "header" && kind != "cookie") {
		return hashKey{}, fmt.Errorf("%q: want param:NAME, header:NAME, cookie:NAME or client_ip", s)
	}
	if kind == "header" {
		name = http.CanonicalHeaderKey(name)
	}
	return hashKey{kind: kind, name: name}, nil
}

// of returns the request's key and whether it has one.
func (k hashKey) of(req *DialRequest) (string, bool) {
	var v string
	switch k.kind {
	case "param":
		v = req.Params.ByName(k.name)
	case "header":
		v = req.Header.Get(k.name)
	case "cookie":
		v = cookieValue(req.Header, k.name)
	case "client_ip":
		v = req.ClientIP
	}
	return v, v != ""
}

func cookieValue(h http.Header, name string) string {
	for _, line := range h["Cookie"] {
		cookies, _ := http.ParseCookie(line)
		for _, c := range cookies {
			if c.Name == name {
				return c.Value
			}
		}
	}
	return ""
}
