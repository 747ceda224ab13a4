package netset

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseAndContains(t *testing.T) {
	s, err := Parse("allow", []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:198.51.100.0/120"})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "11.0.0.1": false, "192.0.2.7": true, "192.0.2.8": false,
		"2001:db8::1": true, "2001:db9::1": false, "::ffff:10.9.9.9": true,
		"198.51.100.200": true, "198.51.101.1": false,
	} {
		if got := s.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", addr, got, want)
		}
	}
	if (Set{}).Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Error("the empty set contains an address")
	}
}

func TestParseRefusesBadEntries(t *testing.T) {
	_, err := Parse("deny", []string{"10.0.0.0/8", "10.1.2.3/8", "example.com", "300.1.1.1", "fe80::1%eth0", "10.0.0.0/33"})
	if err == nil {
		t.Fatal("Parse accepted bad entries")
	}
	msg := err.Error()
	for _, want := range []string{"deny[1]", "did you mean 10.0.0.0/8", "deny[2]", "deny[3]", "deny[4]", "deny[5]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "deny[0]") {
		t.Errorf("error %q blames the good entry", msg)
	}
}
