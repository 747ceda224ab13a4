package wsconform

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// FormatTable renders results as a plain-text table, one case a line:
// ID, verdict, closing verdict, and a summary of what was observed (the
// events, the server's close frame, how the connection ended). It is meant
// for test logs and reports.
func FormatTable(results []Result) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tVERDICT\tCLOSE\tOBSERVED")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Verdict, r.CloseVerdict, Summary(r.Observed))
	}
	tw.Flush()
	return b.String()
}

// Summary describes an observation in one line.
func Summary(o Observation) string {
	if !o.Opened {
		return "not opened: " + o.HandshakeError
	}
	parts := []string{
		"events " + formatEvents(o.Events),
		"server close " + o.CloseReceived.String(),
	}
	if o.ClosedByMe {
		parts = append(parts, "client closed first "+o.CloseSent.String())
	}
	parts = append(parts, o.End.String())
	if o.Violation != "" {
		parts = append(parts, "violation: "+o.Violation)
	}
	return strings.Join(parts, "; ")
}
