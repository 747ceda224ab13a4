// Tests of -local-addrs: parsing, and that connections really leave from
// the addresses given.

package main

import (
	"maps"
	"strings"
	"testing"
)

func TestParseLocalAddrs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    []string // addresses, in order
		wantErr string
	}{
		{name: "one", in: "127.0.0.2", want: []string{"127.0.0.2"}},
		{name: "several with spaces", in: "127.0.0.2, 127.0.0.3,127.0.0.4", want: []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}},
		{name: "ipv6 loopback", in: "::1", want: []string{"::1"}},
		{name: "not an ip", in: "127.0.0.2,example.com", wantErr: `"example.com" is not an IP address`},
		{name: "empty item", in: "127.0.0.2,", wantErr: `"" is not an IP address`},
		{name: "with a port", in: "127.0.0.2:9000", wantErr: "not an IP address"},
		{name: "not this machine's", in: "192.0.2.7", wantErr: "not an address of this machine"},
		{name: "twice", in: "127.0.0.2,127.0.0.2", wantErr: "listed twice"},
		{name: "mixed families", in: "127.0.0.2,::1", wantErr: "IPv4 and IPv6 mixed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLocalAddrs(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseLocalAddrs(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseLocalAddrs(%q): %v", tc.in, err)
			}
			var gotS []string
			for _, ip := range got {
				gotS = append(gotS, ip.String())
			}
			if strings.Join(gotS, ",") != strings.Join(tc.want, ",") {
				t.Errorf("parseLocalAddrs(%q) = %v, want %v", tc.in, gotS, tc.want)
			}
		})
	}
}

// TestLocalAddrsAreTheSources: the server sees each connection come from
// the addresses given, in turn. Linux routes all of 127.0.0.0/8 to the
// loopback interface, so no setup is needed to dial from them.
func TestLocalAddrsAreTheSources(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, false)
	for _, mode := range []string{modeIdle, modeEcho} {
		t.Run(mode, func(t *testing.T) {
			before := srv.sourceCounts()
			s, res := runJSON(t, "-url", srv.wsURL(), "-mode", mode, "-c", "6", "-duration", "100ms", "-progress", "0",
				"-local-addrs", "127.0.0.2,127.0.0.3,127.0.0.4")
			if res.code != 0 || s.ConnsOpened != 6 {
				t.Fatalf("exit %d, opened %d: want 0 and 6; stderr: %s", res.code, s.ConnsOpened, res.stderr)
			}
			got := srv.sourceCounts()
			for ip, n := range before {
				got[ip] -= n
				if got[ip] == 0 {
					delete(got, ip)
				}
			}
			want := map[string]int{"127.0.0.2": 2, "127.0.0.3": 2, "127.0.0.4": 2}
			if !maps.Equal(got, want) {
				t.Errorf("connections by source address %v, want %v", got, want)
			}
		})
	}
}

// TestLocalAddrsOverTLS: the source address applies to the TCP
// connection under TLS too.
func TestLocalAddrsOverTLS(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, echoAll, true)
	s, res := runJSON(t, "-url", srv.wsURL(), "-insecure", "-mode", "idle", "-c", "2", "-duration", "100ms", "-progress", "0",
		"-local-addrs", "127.0.0.5")
	if res.code != 0 || s.ConnsOpened != 2 {
		t.Fatalf("exit %d, opened %d: want 0 and 2; stderr: %s", res.code, s.ConnsOpened, res.stderr)
	}
	if got := srv.sourceCounts(); got["127.0.0.5"] != 2 || len(got) != 1 {
		t.Errorf("connections by source address %v, want 2 from 127.0.0.5", got)
	}
}
