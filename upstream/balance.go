package upstream

import (
	"math/rand/v2"
	"sync/atomic"
)

// balancer chooses a backend among the candidates. Every policy is
// lock-free: it reads atomics and keeps at most an atomic counter.
type balancer interface {
	// pick returns the index of the chosen candidate, or -1 if none is
	// eligible. key is the request's hash key; keyed says it has one.
	pick(c candidates, key string, keyed bool) int
}

var (
	_ balancer = (*leastConn)(nil)
	_ balancer = (*roundRobin)(nil)
	_ balancer = randomPick{}
	_ balancer = (*rendezvous)(nil)
)

func newBalancer(policy string) balancer {
	switch policy {
	case BalanceRoundRobin:
		return &roundRobin{}
	case BalanceRandom:
		return randomPick{}
	case BalanceHash:
		return &rendezvous{}
	}
	return &leastConn{}
}

// candidates are a pool's backends as one pick sees them.
type candidates struct {
	backends []*Backend
	now      int64  // Unix nanoseconds, for passive backoffs
	tried    []bool // backends this request already failed on; nil on the first try
}

// eligible reports whether backend i may take this request.
func (c candidates) eligible(i int) bool {
	return c.backends[i].availableAt(c.now) && (c.tried == nil || !c.tried[i])
}

// leastConn picks the eligible backend with the fewest open connections,
// the fair choice for long-lived WebSockets. Ties are broken by a rotating
// starting point, so a burst of new connections spreads evenly.
type leastConn struct{ offset atomic.Uint32 }

func (l *leastConn) pick(c candidates, _ string, _ bool) int {
	n := len(c.backends)
	start := int(l.offset.Add(1) % uint32(n))
	best, bestActive := -1, int64(0)
	for j := range n {
		i := (start + j) % n
		if !c.eligible(i) {
			continue
		}
		if a := c.backends[i].active.Load(); best < 0 || a < bestActive {
			best, bestActive = i, a
		}
	}
	return best
}

// roundRobin takes the eligible backends in turn.
type roundRobin struct{ next atomic.Uint32 }

func (r *roundRobin) pick(c candidates, _ string, _ bool) int {
	n := len(c.backends)
	start := int((r.next.Add(1) - 1) % uint32(n))
	for j := range n {
		if i := (start + j) % n; c.eligible(i) {
			return i
		}
	}
	return -1
}

// randomPick starts at a random backend and takes the first eligible one.
type randomPick struct{}

func (randomPick) pick(c candidates, _ string, _ bool) int {
	n := len(c.backends)
	start := rand.IntN(n)
	for j := range n {
		if i := (start + j) % n; c.eligible(i) {
			return i
		}
	}
	return -1
}

// rendezvous is consistent hashing by highest random weight: each key goes
// to the eligible backend whose hash of (key, backend) is highest. Adding
// a backend moves only the keys it now wins (about 1/n of them); removing
// one, or its failing, moves only its own keys, each to its next choice.
// The hash is stable across restarts and configuration order. A request
// without a key is balanced least_conn.
type rendezvous struct{ keyless leastConn }

func (h *rendezvous) pick(c candidates, key string, keyed bool) int {
	if !keyed {
		return h.keyless.pick(c, key, keyed)
	}
	k := hashString(key)
	best, bestScore := -1, uint64(0)
	for i, b := range c.backends {
		if !c.eligible(i) {
			continue
		}
		if s := mix64(k ^ b.id); best < 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// hashString is 64-bit FNV-1a, without allocating.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finalizer: it spreads the combined key and
// backend hashes so every bit of each affects the score.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
