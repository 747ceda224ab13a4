package wsconform

import (
	"fmt"
	"slices"
	"strconv"
)

// Diff compares two runs of the same cases, typically one straight to a
// backend and one through wsedge, and returns one readable line per
// difference that matters, in the order of direct: the two verdicts, the
// data messages echoed (type, length and payload digest, in order), the
// pongs matching this client's pings, and the class of the server's close
// code (see CloseClass). Timing, close reasons and server pings are not
// compared. Cases present in only one run are reported too. No
// differences means an empty (nil) slice.
func Diff(direct, proxied []Result) []string {
	byID := make(map[string]Result, len(proxied))
	for _, p := range proxied {
		byID[p.ID] = p
	}
	seen := make(map[string]bool, len(direct))
	var out []string
	for _, d := range direct {
		seen[d.ID] = true
		p, ok := byID[d.ID]
		if !ok {
			out = append(out, fmt.Sprintf("%s: missing from the proxied run", d.ID))
			continue
		}
		for _, diff := range diffResult(d, p) {
			out = append(out, fmt.Sprintf("%s: %s", d.ID, diff))
		}
	}
	for _, p := range proxied {
		if !seen[p.ID] {
			out = append(out, fmt.Sprintf("%s: missing from the direct run", p.ID))
		}
	}
	return out
}

// diffResult lists what differs between two results of one case.
func diffResult(d, p Result) []string {
	var out []string
	if d.Verdict != p.Verdict {
		out = append(out, fmt.Sprintf("verdict %s direct, %s proxied", d.Verdict, p.Verdict))
	}
	if d.CloseVerdict != p.CloseVerdict {
		out = append(out, fmt.Sprintf("closing verdict %s direct, %s proxied", d.CloseVerdict, p.CloseVerdict))
	}
	dm, pm := d.Observed.Messages(), p.Observed.Messages()
	if !slices.Equal(dm, pm) {
		out = append(out, fmt.Sprintf("messages %s direct, %s proxied", formatEvents(dm), formatEvents(pm)))
	}
	do, po := d.Observed, p.Observed
	if do.PongsMatched != po.PongsMatched || do.PingsSent != po.PingsSent {
		out = append(out, fmt.Sprintf("pongs %d/%d direct, %d/%d proxied", do.PongsMatched, do.PingsSent, po.PongsMatched, po.PingsSent))
	}
	if dc, pc := CloseClass(do.CloseReceived), CloseClass(po.CloseReceived); dc != pc {
		out = append(out, fmt.Sprintf("server close %s direct, %s proxied", dc, pc))
	}
	return out
}

// CloseClass groups a received close frame for comparison: "none", "no
// code", the code itself for 1000-2999, and "3000-3999" or "4000-4999" for
// the library and application ranges of RFC 6455 section 7.4.2, whose
// individual values carry no protocol meaning.
func CloseClass(cf *CloseFrame) string {
	switch {
	case cf == nil:
		return "none"
	case !cf.HasCode:
		return "no code"
	case cf.Code >= 3000 && cf.Code <= 3999:
		return "3000-3999"
	case cf.Code >= 4000 && cf.Code <= 4999:
		return "4000-4999"
	}
	return strconv.Itoa(cf.Code)
}
