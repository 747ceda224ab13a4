package wsconform

import (
	"fmt"
	"slices"
	"strings"
)

// Verdict is Autobahn's verdict on the events of a case ("behavior" in its
// reports). The zero value is not a verdict.
type Verdict string

// The verdicts, as Autobahn's case/case.py spells them.
const (
	// VerdictOK: the server did exactly what the case expects.
	VerdictOK Verdict = "OK"
	// VerdictNonStrict: an accepted outcome that does not follow a SHOULD
	// of RFC 6455 or a canonical behaviour; still conforming.
	VerdictNonStrict Verdict = "NON-STRICT"
	// VerdictFailed: the server broke a MUST of RFC 6455.
	VerdictFailed Verdict = "FAILED"
	// VerdictInformational: RFC 6455 leaves the behaviour open, or (for
	// the invalid UTF-8 cases) the server echoed what it did not validate.
	VerdictInformational Verdict = "INFORMATIONAL"
	// VerdictUnimplemented: the case has no script.
	VerdictUnimplemented Verdict = "UNIMPLEMENTED"
)

// CloseVerdict is Autobahn's verdict on how the connection closed
// ("behaviorClose"). The zero value is not a verdict.
type CloseVerdict string

// The closing verdicts, as Autobahn's case/case.py spells them.
const (
	// CloseOK: the right side closed, cleanly if required, with an
	// accepted code or none.
	CloseOK CloseVerdict = "OK"
	// CloseFailed: the wrong side started the closing handshake, or the
	// connection never opened.
	CloseFailed CloseVerdict = "FAILED"
	// CloseUnclean: a clean close was required and did not happen.
	CloseUnclean CloseVerdict = "UNCLEAN"
	// CloseWrongCode: the server's close code is not one the case accepts.
	CloseWrongCode CloseVerdict = "WRONG CODE"
	// CloseFailedByClient: all else was right but this client had to drop
	// TCP; "it is preferred that the server close the TCP connection".
	CloseFailedByClient CloseVerdict = "FAILED BY CLIENT"
	// CloseInformational: the case is informational.
	CloseInformational CloseVerdict = "INFORMATIONAL"
)

// Result is the outcome of one case.
type Result struct {
	ID          string
	Autobahn    string
	Description string
	Expectation string
	// Verdict judges the events, CloseVerdict the closing behaviour;
	// Autobahn reports both and a case passes when neither is FAILED,
	// UNCLEAN or WRONG CODE.
	Verdict      Verdict
	CloseVerdict CloseVerdict
	Observed     Observation
	// Notes explain the verdicts: what differed from the expectation, and
	// where wsconform scores differently from Autobahn and why.
	Notes []string
}

// Passed reports whether neither verdict is a failure: the verdict is OK,
// NON-STRICT or INFORMATIONAL and the closing verdict OK, FAILED BY CLIENT
// or INFORMATIONAL (Autobahn colours the latter "almost" rather than
// failed).
func (r Result) Passed() bool {
	switch r.Verdict {
	case VerdictOK, VerdictNonStrict, VerdictInformational:
	default:
		return false
	}
	switch r.CloseVerdict {
	case CloseOK, CloseFailedByClient, CloseInformational:
		return true
	}
	return false
}

// judge computes the verdicts the way autobahntestsuite case/case.py's
// onConnectionLost does, plus the per-case overrides of sections 6 and 7.
func judge(c *Case, o Observation) Result {
	r := Result{
		ID:          c.ID,
		Autobahn:    c.Autobahn,
		Description: c.Description,
		Expectation: c.Expectation,
		Observed:    o,
	}
	exp := c.Expect
	if !o.Opened {
		r.Verdict, r.CloseVerdict = VerdictFailed, CloseFailed
		r.Notes = append(r.Notes, "opening handshake failed: "+o.HandshakeError)
		return r
	}
	r.Verdict = eventVerdict(exp, o.Events)
	if r.Verdict == VerdictFailed {
		r.Notes = append(r.Notes, fmt.Sprintf("events %s, want %s", formatEvents(o.Events), formatEvents(exp.OK)))
	}
	var why string
	r.CloseVerdict, why = closeVerdict(exp, o)
	if why != "" {
		r.Notes = append(r.Notes, why)
	}
	wrongEndpoint := exp.ServerFails == o.ClosedByMe
	if exp.WrongEndpointFails && wrongEndpoint {
		r.Verdict = VerdictFailed
	}
	if exp.WrongCodeFails && r.CloseVerdict == CloseWrongCode {
		r.Verdict = VerdictFailed
	}
	if exp.UnvalidatedEcho != nil && slices.Equal(o.Events, exp.UnvalidatedEcho) {
		r.Verdict, r.CloseVerdict = VerdictInformational, CloseInformational
		r.Notes = append([]string{"server echoed invalid UTF-8 unchanged instead of failing with 1007 (RFC 6455 section 8.1); Autobahn scores this FAILED"}, r.Notes...)
	}
	if exp.Informational {
		r.Verdict, r.CloseVerdict = VerdictInformational, CloseInformational
		r.Notes = append([]string{"behaviour left open by RFC 6455"}, r.Notes...)
	}
	if rc := o.CloseReceived; rc != nil && !rc.HasCode && !slices.Contains(exp.CloseCodes, codeNormal) {
		r.Notes = append(r.Notes, fmt.Sprintf("the server's Close carried no status code where %v was expected; Autobahn accepts a Close without code", exp.CloseCodes))
	}
	if o.Violation != "" {
		r.Notes = append(r.Notes, "server violation: "+o.Violation)
	}
	return r
}

// eventVerdict matches the events against the OK and NON-STRICT outcomes.
func eventVerdict(exp Expect, events []Event) Verdict {
	switch {
	case slices.Equal(events, exp.OK):
		return VerdictOK
	case exp.NonStrictAllowed && slices.Equal(events, exp.NonStrict):
		return VerdictNonStrict
	}
	return VerdictFailed
}

// closeVerdict is the chain of checks in Autobahn's onConnectionLost, in
// its order, with the reason for anything but OK.
func closeVerdict(exp Expect, o Observation) (CloseVerdict, string) {
	rc := o.CloseReceived
	switch {
	case exp.ServerFails == o.ClosedByMe:
		if exp.ServerFails {
			return CloseFailed, "the server should have failed the connection, but this client had to start the closing handshake"
		}
		if rc != nil {
			return CloseFailed, fmt.Sprintf("the server sent Close (%s) first; this client should have started the closing handshake", rc)
		}
		return CloseFailed, "the server dropped TCP before this client could start the closing handshake"
	case exp.RequireClean && !o.WasClean:
		return CloseUnclean, "a clean close was required: " + o.End.String() + dropDetail(o)
	case rc != nil && rc.HasCode && !slices.Contains(exp.CloseCodes, rc.Code):
		return CloseWrongCode, fmt.Sprintf("close code %d, want one of %v or none", rc.Code, exp.CloseCodes)
	case o.DroppedByMe:
		return CloseFailedByClient, "this client had to drop TCP" + dropDetail(o)
	}
	return CloseOK, ""
}

func dropDetail(o Observation) string {
	if o.DropReason == "" {
		return ""
	}
	return " (" + o.DropReason + ")"
}

// formatEvents lists events compactly for notes and tables.
func formatEvents(events []Event) string {
	if len(events) == 0 {
		return "[]"
	}
	const show = 4
	parts := make([]string, 0, show+1)
	for i, e := range events {
		if i == show {
			parts = append(parts, fmt.Sprintf("+%d more", len(events)-show))
			break
		}
		parts = append(parts, e.String())
	}
	return "[" + strings.Join(parts, " ") + "]"
}
