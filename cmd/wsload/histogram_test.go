// Tests of the latency histogram against known distributions.

package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// within reports whether got is within frac (relative) of want.
func within(got, want time.Duration, frac float64) bool {
	return math.Abs(float64(got-want)) <= frac*float64(want)
}

func uniformMicros(from, to int) *histogram {
	var h histogram
	for us := from; us <= to; us++ {
		h.record(time.Duration(us) * time.Microsecond)
	}
	return &h
}

func TestHistogramUniform(t *testing.T) {
	h := uniformMicros(1, 10000)
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{0.50, 5000 * time.Microsecond},
		{0.90, 9000 * time.Microsecond},
		{0.99, 9900 * time.Microsecond},
		{0.999, 9990 * time.Microsecond},
		{0.01, 100 * time.Microsecond},
	} {
		if got := h.percentile(c.q); !within(got, c.want, 0.02) {
			t.Errorf("p%v = %v, want %v ± 2%%", c.q*100, got, c.want)
		}
	}
	if got := h.total(); got != 10000 {
		t.Errorf("count = %d, want 10000", got)
	}
	if got := h.maximum(); got != 10000*time.Microsecond {
		t.Errorf("max = %v, want exactly 10ms", got)
	}
	if got, want := h.mean(), 5000500*time.Nanosecond; got != want {
		t.Errorf("mean = %v, want exactly %v", got, want)
	}
	if got := h.percentile(1); got != h.maximum() {
		t.Errorf("p100 = %v, want the maximum %v", got, h.maximum())
	}
}

// TestHistogramPrecision compares percentiles with the exact ones of
// log-uniform samples over the whole range: every bucket must hold its
// promise of about 1%.
func TestHistogramPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h histogram
	samples := make([]time.Duration, 100000)
	lo, hi := math.Log(float64(time.Microsecond)), math.Log(float64(60*time.Second))
	for i := range samples {
		samples[i] = time.Duration(math.Exp(lo + rng.Float64()*(hi-lo)))
		h.record(samples[i])
	}
	slices.Sort(samples)
	for _, q := range []float64{0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999} {
		rank := int(math.Ceil(q * float64(len(samples))))
		want := samples[rank-1]
		if got := h.percentile(q); !within(got, want, 0.01) {
			t.Errorf("p%v = %v, exact %v: more than 1%% off", q*100, got, want)
		}
	}
}

func TestHistogramMerge(t *testing.T) {
	whole := uniformMicros(1, 10000)
	var odd, even, merged histogram
	for us := 1; us <= 10000; us++ {
		part := &even
		if us%2 == 1 {
			part = &odd
		}
		part.record(time.Duration(us) * time.Microsecond)
	}
	merged.merge(&odd)
	merged.merge(&even)
	merged.merge(&histogram{}) // merging an empty histogram changes nothing
	if merged.total() != whole.total() || merged.maximum() != whole.maximum() || merged.mean() != whole.mean() {
		t.Errorf("merged count/max/mean = %d/%v/%v, want %d/%v/%v",
			merged.total(), merged.maximum(), merged.mean(), whole.total(), whole.maximum(), whole.mean())
	}
	for _, q := range []float64{0.1, 0.5, 0.9, 0.99, 0.999} {
		if got, want := merged.percentile(q), whole.percentile(q); got != want {
			t.Errorf("merged p%v = %v, want %v as without merging", q*100, got, want)
		}
	}
}

func TestHistogramClampsToRange(t *testing.T) {
	var h histogram
	h.record(0)
	h.record(-time.Second)
	h.record(10 * time.Minute)
	if got := h.percentile(0.5); !within(got, histMin, 0.01) {
		t.Errorf("p50 of values below the range = %v, want about %v", got, histMin)
	}
	if got := h.maximum(); got != histMax {
		t.Errorf("max = %v, want the top of the range %v", got, histMax)
	}
	if histMax < 60*time.Second {
		t.Errorf("range ends at %v, must cover at least 60s", histMax)
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h histogram
	if h.percentile(0.99) != 0 || h.maximum() != 0 || h.mean() != 0 || h.total() != 0 {
		t.Errorf("empty histogram: p99 %v max %v mean %v count %d, want zeros",
			h.percentile(0.99), h.maximum(), h.mean(), h.total())
	}
}

// TestHistogramReadWhileRecording is for the race detector: progress
// lines read histograms that their owners are writing.
func TestHistogramReadWhileRecording(t *testing.T) {
	var h histogram
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20000 {
			h.record(time.Duration(i%5000+1) * time.Microsecond)
		}
	}()
	for range 50 {
		var snapshot histogram
		snapshot.merge(&h)
		_ = snapshot.percentile(0.99)
	}
	wg.Wait()
	if h.total() != 20000 {
		t.Errorf("count = %d, want 20000", h.total())
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h histogram
	for i := 0; b.Loop(); i++ {
		h.record(time.Duration(i%100000) * time.Microsecond)
	}
}
