package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxToken bounds an escaped subject token; a longer name (a client
// chooses room names) is hashed so subjects stay well within NATS's
// control line (4 KiB by default).
const maxToken = 200

// roomSubject is the subject of a route's room:
// <cluster>.room.<route>.<room>, each name escaped into one token.
func roomSubject(cluster, route, room string) string {
	return cluster + ".room." + subjectToken(route) + "." + subjectToken(room)
}

// subjectToken escapes s into one subject token, injectively: letters,
// digits, "-", "_" and "=" stay (room keys read "room=lobby"), every
// other byte is %XX, as NATS subjects may not contain ".", "*", ">" or
// white space. An empty name is "%". A token longer than maxToken is
// "sha256-" and the name's hash.
func subjectToken(s string) string {
	if s == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isTokenByte(c) {
			b.WriteByte(c)
			continue
		}
		const hexDigits = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	if b.Len() > maxToken {
		sum := sha256.Sum256([]byte(s))
		return "sha256-" + hex.EncodeToString(sum[:])
	}
	return b.String()
}

func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '='
}
