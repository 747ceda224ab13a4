// Workload 5 over HTTP/2 (issue 11): new wss:// connections per second
// when the WebSockets are streams of one TLS connection (RFC 8441
// extended CONNECT, as browsers open them once a server offers h2),
// against HTTP/1.1, where each costs a TLS handshake of its own.

package main

import (
	"fmt"
	"slices"
	"strings"
)

// newConnsOverHTTP2 runs h1's handshake load hs against every proxy
// over HTTP/1.1, and the same load (same workers, same key exchange)
// over HTTP/2 on one TLS connection against the proxies that accept
// WebSockets over it, all interleaved in the same runs so that the
// ratio of the two compares like with like. It fills h1 and returns the
// HTTP/2 row, whose measured column is wsedge's ratio HTTP/2 to
// HTTP/1.1.
func (b *bench) newConnsOverHTTP2(h1 *row, hs load, metrics func(measurement) []float64) *row {
	h2 := newRow(h1.id, "new wss conns/s over HTTP/2 (one TLS connection)", h1.metric, false)
	h2.baseline, h2.baselineName = "wsedge-http1", "HTTP/1.1"
	over := hs
	over.h2Conns = 1
	var vs []variant
	for _, t := range b.proxies() {
		vs = append(vs, variant{rows: []*row{h1}, t: t, l: hs})
	}
	for _, t := range b.proxies() {
		if !t.http2 {
			// nginx has no RFC 8441: it does not proxy WebSockets
			// over HTTP/2 at all.
			h2.notApplicable = append(h2.notApplicable, t.name)
			continue
		}
		vs = append(vs, variant{rows: []*row{h2}, t: t, l: over, label: t.name + "/h2"})
	}
	b.interleaveVariants(vs, metrics)
	h2.values["wsedge-http1"] = slices.Clone(h1.values["wsedge"])
	b.notes = append(b.notes, http2Note(h1, h2))
	return h2
}

// http2Note is the report's line on the HTTP/2 row: each proxy's ratio
// HTTP/2 to HTTP/1.1, and why nginx has none.
func http2Note(h1, h2 *row) string {
	var parts []string
	for _, name := range columns {
		switch {
		case slices.Contains(h2.notApplicable, name):
			parts = append(parts, name+" n/a (no WebSockets over HTTP/2, RFC 8441)")
		case len(h1.values[name]) > 0 && len(h2.values[name]) > 0:
			parts = append(parts, fmt.Sprintf("%s %.2fx", name, median(h2.values[name])/median(h1.values[name])))
		}
	}
	if len(parts) == 0 {
		parts = []string{"no data"}
	}
	return "workload 5 over HTTP/2 (one TLS connection) against HTTP/1.1, conns/s in the same runs: " + strings.Join(parts, "; ")
}
