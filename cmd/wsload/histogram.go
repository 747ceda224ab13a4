// Latency histograms.
//
// A load generator records one latency per message, often hundreds of
// thousands per second for minutes, so samples are never kept: each one
// only increments a counter in a log-linear bucket, as HdrHistogram does.
// Every power of two of nanoseconds is split into 64 equal sub-buckets, so
// a bucket is at most 1/64 of its lower bound wide and a percentile,
// reported as its bucket's midpoint, is within 0.8% of the true value.
//
// Each connection (or handshake worker) owns one histogram and is its only
// writer, so recording takes no lock. Counters are atomics all the same,
// so that the progress reporter can read live histograms while they are
// written without a data race; an uncontended atomic add costs a few
// nanoseconds, nothing next to the system calls of sending a message.

package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

const (
	// subBucketBits sets the precision: 2^6 = 64 sub-buckets per power of two.
	subBucketBits  = 6
	subBucketCount = 1 << subBucketBits

	// Bands are powers of two of nanoseconds. The first band, [512ns, 1024ns),
	// holds histMin; the last ends at 2^36 ns, about 68.7s.
	firstBand = 9
	lastBand  = 35
	bandCount = lastBand - firstBand + 1

	histMin = time.Microsecond
	histMax = time.Duration(1)<<(lastBand+1) - 1
)

// band holds the 64 counters (512 bytes) of one power of two. Bands are
// allocated on first use: a connection's latencies cluster in a few
// bands, so it carries a KB or two of counters rather than the 14 KB of
// all 27 bands, which matters with tens of thousands of connections.
type band [subBucketCount]atomic.Uint64

// histogram counts durations in log-linear buckets from histMin to histMax;
// values outside are clamped into that range. The zero value is empty and
// ready to use. Only one goroutine may record into or merge into a
// histogram; any goroutine may read it at any time.
type histogram struct {
	bands [bandCount]atomic.Pointer[band]
	count atomic.Uint64
	sum   atomic.Uint64 // nanoseconds, for the mean
	max   atomic.Int64  // nanoseconds
}

// record adds one duration. Only the histogram's owner may call it.
func (h *histogram) record(d time.Duration) {
	d = min(max(d, histMin), histMax)
	b, s := bucketOf(d)
	h.bandFor(b)[s].Add(1)
	h.sum.Add(uint64(d))
	if int64(d) > h.max.Load() {
		h.max.Store(int64(d))
	}
	// Counted last, so a reader never sees more samples than buckets hold.
	h.count.Add(1)
}

// merge adds every sample of o into h. Only h's owner may call it; o may
// be written concurrently, in which case some of its latest samples may
// be missing from h.
func (h *histogram) merge(o *histogram) {
	n := o.count.Load()
	if n == 0 {
		return
	}
	for b := range o.bands {
		src := o.bands[b].Load()
		if src == nil {
			continue
		}
		var dst *band
		for s := range src {
			if c := src[s].Load(); c > 0 {
				if dst == nil {
					dst = h.bandFor(b)
				}
				dst[s].Add(c)
			}
		}
	}
	h.sum.Add(o.sum.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
	h.count.Add(n)
}

// bandFor returns band b, allocating it on first use (single writer).
func (h *histogram) bandFor(b int) *band {
	p := h.bands[b].Load()
	if p == nil {
		p = new(band)
		h.bands[b].Store(p)
	}
	return p
}

// total is the number of recorded samples.
func (h *histogram) total() uint64 { return h.count.Load() }

// maximum is the largest recorded sample (after clamping), exactly.
func (h *histogram) maximum() time.Duration { return time.Duration(h.max.Load()) }

// mean is the arithmetic mean of the samples (after clamping), exactly.
func (h *histogram) mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// percentile returns the value below which a fraction q (0..1) of the
// samples fall: the midpoint of the bucket holding the sample of rank
// ceil(q*n), never above the exact maximum. It is 0 for an empty histogram.
func (h *histogram) percentile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for b := range h.bands {
		p := h.bands[b].Load()
		if p == nil {
			continue
		}
		for s := range p {
			seen += p[s].Load()
			if seen >= rank {
				return min(bucketMidpoint(b, s), h.maximum())
			}
		}
	}
	return h.maximum()
}

// bucketOf maps a duration within [histMin, histMax] to its band and
// sub-bucket: the band is the duration's power of two, the sub-bucket the
// next subBucketBits bits below the leading one.
func bucketOf(d time.Duration) (b, s int) {
	v := uint64(d)
	exp := bits.Len64(v) - 1
	s = int(v>>(exp-subBucketBits)) & (subBucketCount - 1)
	return exp - firstBand, s
}

// bucketMidpoint is the middle of sub-bucket s of band b.
func bucketMidpoint(b, s int) time.Duration {
	shift := b + firstBand - subBucketBits
	lower := uint64(subBucketCount+s) << shift
	width := uint64(1) << shift
	return time.Duration(lower + width/2)
}
