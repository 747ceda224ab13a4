package interop

import (
	"maps"
	"testing"
)

// TestParseLogLine checks the reading of slog's text lines that
// waitRecords relies on, quoted values included.
func TestParseLogLine(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       logRecord // nil: not a record
	}{
		{
			"websocket opened",
			`time=2026-01-02T03:04:05.678Z level=INFO msg="websocket opened" route=node backend=ws://127.0.0.1:4000/echo client=127.0.0.1:51234 subprotocol="" compressed=false handshake=1.2ms query="id=T-00"`,
			logRecord{"time": "2026-01-02T03:04:05.678Z", "level": "INFO", "msg": "websocket opened", "route": "node",
				"backend": "ws://127.0.0.1:4000/echo", "client": "127.0.0.1:51234", "subprotocol": "", "compressed": "false",
				"handshake": "1.2ms", "query": "id=T-00"},
		},
		{"escapes in a quoted value", `msg="a \"b\" c\n" x=1`, logRecord{"msg": "a \"b\" c\n", "x": "1"}},
		{"no msg", `level=INFO route=node`, nil},
		{"a race report", `WARNING: DATA RACE`, nil},
		{"an unterminated quote", `msg="websocket opened`, nil},
		{"text after a quote", `msg="a"b x=1`, nil},
		{"empty", ``, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseLogLine(tc.line)
			if ok != (tc.want != nil) || !maps.Equal(got, tc.want) {
				t.Errorf("parseLogLine(%q) = %v, %v; want %v", tc.line, got, ok, tc.want)
			}
		})
	}
}
