// Reporting: progress lines on stderr while a run goes, and the final
// summary on stdout, as text for people or as one JSON object for scripts.
//
// The JSON field names are an interface: benchmark scripts parse them.
// Rename nothing; add fields only if every consumer tolerates them.

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// summary is the result of a run. Fields that do not apply to the mode
// stay zero.
type summary struct {
	Mode        string  `json:"mode"`
	URL         string  `json:"url"`
	Connections int     `json:"connections"`
	Size        int     `json:"size"`
	Window      int     `json:"window"`
	Rate        float64 `json:"rate"`
	DurationS   float64 `json:"duration_s"` // of the measured phase

	MessagesSent     uint64  `json:"messages_sent"`
	MessagesReceived uint64  `json:"messages_received"`
	MessagesMeasured uint64  `json:"messages_measured"` // received during the measured phase: what msgs_per_sec counts
	MsgsPerSec       float64 `json:"msgs_per_sec"`
	MBPerSec         float64 `json:"mb_per_sec"`
	Lost             uint64  `json:"lost"`
	Corrupted        uint64  `json:"corrupted"`
	Reordered        uint64  `json:"reordered"`
	Errors           uint64  `json:"errors"`

	// LatencyUS is the echo round trip in echo mode, the opening
	// handshake in handshake mode.
	LatencyUS latencySummary `json:"latency_us"`

	Handshakes       uint64  `json:"handshakes"`
	HandshakesPerSec float64 `json:"handshakes_per_sec"`
	// H2Conns is, in handshake mode with -h2-conns, how many TLS
	// connections carried the WebSockets as HTTP/2 streams (more than
	// -h2-conns if the target closed some); 0 otherwise.
	H2Conns int64 `json:"h2_conns"`

	ConnsOpened    int64 `json:"conns_opened"`
	ConnsFailed    int64 `json:"conns_failed"`
	ConnsOpenAtEnd int64 `json:"conns_open_at_end"`

	ErrorSamples []string `json:"error_samples"`
	FDLimit      uint64   `json:"fd_limit"`

	// Only in the text summary: whether the tool itself was busy.
	fileLimitReached bool
	cpuUser, cpuSys  time.Duration
	wall             time.Duration // of the whole run, ramp and drain included
}

// latencySummary is a latency distribution in microseconds.
type latencySummary struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func latencyOf(h *histogram) latencySummary {
	return latencySummary{
		P50:  micros(h.percentile(0.50)),
		P90:  micros(h.percentile(0.90)),
		P99:  micros(h.percentile(0.99)),
		P999: micros(h.percentile(0.999)),
		Max:  micros(h.maximum()),
		Mean: micros(h.mean()),
	}
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// setMeasured records how long the measured phase lasted.
func (s *summary) setMeasured(d time.Duration) { s.DurationS = d.Seconds() }

// exitStatus is 1 when the run found the target at fault in a way the
// user must not miss, 0 otherwise.
func exitStatus(s summary) int {
	if s.Lost > 0 || s.Corrupted > 0 || s.Reordered > 0 {
		return 1
	}
	if s.Mode == modeHandshake {
		if s.Handshakes == 0 {
			return 1
		}
	} else if s.ConnsOpened == 0 {
		return 1
	}
	return 0
}

// writeSummary prints s as JSON or as text.
func writeSummary(w io.Writer, s summary, asJSON bool) error {
	if asJSON {
		if err := json.NewEncoder(w).Encode(s); err != nil {
			return fmt.Errorf("write JSON summary: %w", err)
		}
		return nil
	}
	if _, err := io.WriteString(w, textSummary(s)); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// textSummary renders s for people: only the lines that apply to the mode.
func textSummary(s summary) string {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-12s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("target", "%s (%s mode)", s.URL, s.Mode)
	line("measured", "%.2fs", s.DurationS)
	switch s.Mode {
	case modeEcho:
		line("load", "%d connections, %d B messages, window %d, rate %s",
			s.Connections, s.Size, s.Window, rateText(s.Rate))
		line("connections", "%d opened, %d failed, %d open at end", s.ConnsOpened, s.ConnsFailed, s.ConnsOpenAtEnd)
		line("messages", "%d sent, %d received: %.0f msg/s, %.2f MB/s", s.MessagesSent, s.MessagesReceived, s.MsgsPerSec, s.MBPerSec)
		line("integrity", "%d lost, %d corrupted, %d reordered", s.Lost, s.Corrupted, s.Reordered)
		line("round trip", "%s", latencyText(s.LatencyUS))
	case modeIdle:
		line("connections", "%d requested, %d opened, %d failed, %d open at end",
			s.Connections, s.ConnsOpened, s.ConnsFailed, s.ConnsOpenAtEnd)
	case modeHandshake:
		line("load", "%d workers", s.Connections)
		line("handshakes", "%d: %.0f/s", s.Handshakes, s.HandshakesPerSec)
		if s.H2Conns > 0 {
			line("http/2", "as streams of %d TLS connections (RFC 8441)", s.H2Conns)
		}
		line("handshake", "%s", latencyText(s.LatencyUS))
	}
	line("errors", "%d", s.Errors)
	for _, e := range s.ErrorSamples {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	if s.fileLimitReached {
		line("note", "the local open-file limit (%d) was reached: wsload, not the target, limited this run", s.FDLimit)
	}
	line("wsload cpu", "%s user, %s sys: %.0f%% of one core over %.2fs",
		s.cpuUser.Round(time.Millisecond), s.cpuSys.Round(time.Millisecond),
		cpuPercent(s.cpuUser+s.cpuSys, s.wall), s.wall.Seconds())
	return b.String()
}

func rateText(r float64) string {
	if r == 0 {
		return "unthrottled"
	}
	return fmt.Sprintf("%g msg/s per connection", r)
}

func latencyText(l latencySummary) string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s",
		microsText(l.P50), microsText(l.P90), microsText(l.P99),
		microsText(l.P999), microsText(l.Max), microsText(l.Mean))
}

// microsText renders a latency in microseconds with a fitting unit.
func microsText(us float64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%.0fµs", us)
	case us < 1e6:
		return fmt.Sprintf("%.2fms", us/1e3)
	default:
		return fmt.Sprintf("%.2fs", us/1e6)
	}
}

func cpuPercent(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}

// progressSample is a snapshot of a run's cumulative counters.
type progressSample struct {
	open       int64
	messages   uint64 // echoes received
	handshakes uint64
	errors     uint64
	latency    *histogram // nil where the mode has none
}

// startProgress prints a progress line every -progress until the returned
// stop function is called. stop waits for the printing goroutine, so
// nothing is written after it returns.
func startProgress(env *runEnv, sample func() progressSample) (stop func()) {
	if env.opts.progress <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		printProgress(ctx, env, sample)
	}()
	return func() {
		cancel()
		<-done
	}
}

// printProgress is the progress goroutine: rates are over the last
// interval, the latency percentile over the whole run so far.
func printProgress(ctx context.Context, env *runEnv, sample func() progressSample) {
	ticker := time.NewTicker(env.opts.progress)
	defer ticker.Stop()
	prev, prevAt := sample(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		cur, now := sample(), time.Now()
		line := progressLine(env, env.clock.now(), prev, cur, now.Sub(prevAt).Seconds())
		fmt.Fprintln(env.stderr, line)
		prev, prevAt = cur, now
	}
}

// progressLine renders one progress line, with the fields of the mode.
func progressLine(env *runEnv, elapsed time.Duration, prev, cur progressSample, secs float64) string {
	rate := func(now, before uint64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(now-before) / secs
	}
	fields := []string{fmt.Sprintf("wsload %6.1fs", elapsed.Seconds())}
	switch env.opts.mode {
	case modeEcho:
		msgs := rate(cur.messages, prev.messages)
		fields = append(fields,
			fmt.Sprintf("open %d", cur.open),
			fmt.Sprintf("%.0f msg/s", msgs),
			fmt.Sprintf("%.2f MB/s", msgs*float64(env.opts.size)/1e6))
	case modeIdle:
		fields = append(fields, fmt.Sprintf("open %d", cur.open))
	case modeHandshake:
		fields = append(fields, fmt.Sprintf("%.0f handshakes/s", rate(cur.handshakes, prev.handshakes)))
	}
	if cur.latency != nil {
		fields = append(fields, "p99 "+microsText(micros(cur.latency.percentile(0.99))))
	}
	fields = append(fields, fmt.Sprintf("errors %d", cur.errors))
	return strings.Join(fields, "  ")
}
