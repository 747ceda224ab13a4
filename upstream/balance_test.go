package upstream

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"
)

// fakeBackends builds n backends for selection tests; no network is
// involved in choosing.
func fakeBackends(n int) []*Backend {
	var out []*Backend
	for i := range n {
		tpl, _ := ParseURLTemplate(fmt.Sprintf("ws://10.0.0.%d:8080/{room}", i))
		out = append(out, &Backend{url: tpl, index: i, id: hashString(tpl.String()), health: new(health)})
	}
	return out
}

// TestBalancerConformance runs one suite over every policy: each picks
// only eligible backends, reports when there is none, and reaches every
// backend.
func TestBalancerConformance(t *testing.T) {
	for _, policy := range []string{BalanceLeastConn, BalanceRoundRobin, BalanceRandom, BalanceHash} {
		t.Run(policy, func(t *testing.T) {
			bal := newBalancer(policy)
			backends := fakeBackends(5)
			now := time.Now().UnixNano()
			backends[1].downUntil.Store(now + int64(time.Minute)) // passively down
			backends[3].checkFailed.Store(true)                   // failing its active check
			tried := make([]bool, 5)
			tried[4] = true // this request already failed there
			c := candidates{backends: backends, now: now, tried: tried}

			seen := map[int]bool{}
			for i := range 200 {
				got := bal.pick(c, fmt.Sprintf("key-%d", i), true)
				if got != 0 && got != 2 {
					t.Fatalf("picked backend %d; only 0 and 2 are eligible", got)
				}
				seen[got] = true
			}
			if !seen[0] || !seen[2] {
				t.Errorf("over 200 picks reached only %v; want both eligible backends", seen)
			}
			c.tried = []bool{true, true, true, true, true}
			if got := bal.pick(c, "key", true); got != -1 {
				t.Errorf("with nothing eligible: got %d, want -1", got)
			}
		})
	}
}

func TestHashKeySources(t *testing.T) {
	req := &DialRequest{
		Params:   httprouter.Params{{Key: "room", Value: "lobby"}},
		Header:   http.Header{"X-User": {"ann"}, "Cookie": {"a=1; sid=s3cr3t"}},
		ClientIP: "192.0.2.7",
	}
	for spec, want := range map[string]string{
		"param:room": "lobby", "header:x-user": "ann", "cookie:sid": "s3cr3t", "client_ip": "192.0.2.7",
		"param:missing": "", "cookie:none": "",
	} {
		k, err := parseHashKey(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if got, ok := k.of(req); got != want || ok != (want != "") {
			t.Errorf("%s: got %q %v, want %q", spec, got, ok, want)
		}
	}
	for _, bad := range []string{"", "param:", "query:x", "ip"} {
		if _, err := parseHashKey(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// BenchmarkSelect measures choosing a backend for one handshake: the
// policy's pick plus the connection count, as DialWebSocket does it, with
// 3 and 100 backends all eligible. No network: this is the per-handshake
// cost the pool adds.
func BenchmarkSelect(b *testing.B) {
	for _, n := range []int{3, 100} {
		for _, policy := range []string{BalanceLeastConn, BalanceRoundRobin, BalanceRandom, BalanceHash} {
			b.Run(fmt.Sprintf("%s/%d", policy, n), func(b *testing.B) {
				p := &Pool{backends: fakeBackends(n), balancer: newBalancer(policy)}
				if policy == BalanceHash {
					p.hashKey = hashKey{kind: "param", name: "room"}
				}
				req := &DialRequest{Params: httprouter.Params{{Key: "room", Value: "room-42"}}}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					be := p.acquire(req, nil)
					be.active.Add(-1)
				}
			})
		}
	}
}
