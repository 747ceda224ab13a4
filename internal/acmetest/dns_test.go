package acmetest

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestStartDNS asks the server for an A record over both transports
// Pebble's validator and the system resolver may use.
func TestStartDNS(t *testing.T) {
	addr := StartDNS(t)
	for _, network := range []string{"tcp", "udp"} {
		t.Run(network, func(t *testing.T) {
			q := new(dns.Msg)
			q.SetQuestion("anything.wsedge.test.", dns.TypeA)
			c := &dns.Client{Net: network, Timeout: 5 * time.Second}
			r, _, err := c.Exchange(q, addr)
			if err != nil {
				t.Fatalf("query over %s: %v", network, err)
			}
			if len(r.Answer) != 1 {
				t.Fatalf("answers: got %v, want one A record", r.Answer)
			}
			a, ok := r.Answer[0].(*dns.A)
			if !ok || a.A.String() != "127.0.0.1" {
				t.Errorf("answer: got %v, want an A record for 127.0.0.1", r.Answer[0])
			}
		})
	}
}
