package proxy

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// handshakeRates limits the WebSocket handshakes each client (see
// clientKey) may start a second (limits.handshake_rate, nginx's
// limit_req, Traefik's RateLimit). The table of clients is bounded: when
// it is full, the client seen least recently is forgotten, so a flood of
// addresses costs at most size entries (about 200 bytes each) and the
// worst it does is give a forgotten client a fresh burst.
type handshakeRates struct {
	limit rate.Limit
	burst int
	size  int

	mu      sync.Mutex
	clients map[netip.Prefix]*rateEntry
	// recent is the sentinel of a ring of the entries, most recently
	// seen first.
	recent rateEntry
}

type rateEntry struct {
	client     netip.Prefix
	limiter    *rate.Limiter
	prev, next *rateEntry
}

// newHandshakeRates builds the table limits configures, or nil when the
// rate is unbounded (a nil table admits everything).
func newHandshakeRates(l *LimitsConfig) *handshakeRates {
	if l.HandshakeRate <= 0 {
		return nil
	}
	burst := l.HandshakeBurst
	if burst == 0 {
		burst = max(1, int(math.Ceil(l.HandshakeRate)))
	}
	h := &handshakeRates{limit: rate.Limit(l.HandshakeRate), burst: burst, size: l.HandshakeRateTable,
		clients: make(map[netip.Prefix]*rateEntry)}
	h.recent.prev, h.recent.next = &h.recent, &h.recent
	return h
}

// sameAs reports whether h and o limit alike, so that a reload keeps h
// and what it remembers.
func (h *handshakeRates) sameAs(o *handshakeRates) bool {
	if h == nil || o == nil {
		return h == o
	}
	return h.limit == o.limit && h.burst == o.burst && h.size == o.size
}

// allow takes one handshake from client's budget at now, or reports how
// long until the budget has one.
func (h *handshakeRates) allow(client netip.Prefix, now time.Time) (time.Duration, bool) {
	if h == nil {
		return 0, true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.entry(client)
	r := e.limiter.ReserveN(now, 1)
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now) // refused: it takes nothing from the budget
		return wait, false
	}
	return 0, true
}

// entry returns client's entry, most recent from now on, making it (and
// forgetting the least recent client when the table is full) if need be.
func (h *handshakeRates) entry(client netip.Prefix) *rateEntry {
	e := h.clients[client]
	if e != nil {
		h.unlink(e)
	} else {
		if len(h.clients) >= h.size {
			oldest := h.recent.prev
			h.unlink(oldest)
			delete(h.clients, oldest.client)
		}
		e = &rateEntry{client: client, limiter: rate.NewLimiter(h.limit, h.burst)}
		h.clients[client] = e
	}
	e.prev, e.next = &h.recent, h.recent.next
	e.next.prev, h.recent.next = e, e
	return e
}

func (h *handshakeRates) unlink(e *rateEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

// remembered is the number of clients in the table.
func (h *handshakeRates) remembered() int {
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}
