package wsconform

import (
	"strings"
	"testing"
)

func TestDiffSynthetic(t *testing.T) {
	base := func(id string) Result {
		return Result{
			ID: id, Verdict: VerdictOK, CloseVerdict: CloseOK,
			Observed: Observation{
				Opened:        true,
				Events:        []Event{PongEvent([]byte("p")), MessageEvent(false, []byte("m"))},
				PingsSent:     1,
				PongsMatched:  1,
				CloseReceived: &CloseFrame{HasCode: true, Code: 3000, PayloadLen: 2},
			},
		}
	}
	direct := []Result{base("a"), base("b"), base("c")}
	if d := Diff(direct, []Result{base("a"), base("b"), base("c")}); d != nil {
		t.Errorf("identical runs: got %q, want no differences", d)
	}

	proxied := []Result{base("a"), base("b"), base("d")}
	proxied[0].Verdict = VerdictFailed
	proxied[0].Observed.Events = []Event{MessageEvent(true, []byte("m"))}
	proxied[0].Observed.PongsMatched = 0
	proxied[1].Observed.CloseReceived = &CloseFrame{HasCode: true, Code: 3999, PayloadLen: 2} // same class
	proxied[1].Observed.Duration = 1e9                                                        // timing is not compared
	got := Diff(direct, proxied)
	for _, want := range []string{
		"a: verdict OK direct, FAILED proxied",
		"a: messages [text(1B ",
		"a: pongs 1/1 direct, 0/1 proxied",
		"c: missing from the proxied run",
		"d: missing from the direct run",
	} {
		if !containsPrefix(got, want) {
			t.Errorf("differences %q lack %q", got, want)
		}
	}
	if len(got) != 5 {
		t.Errorf("got %d differences %q, want 5", len(got), got)
	}
}

func containsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func TestCloseClass(t *testing.T) {
	for _, tc := range []struct {
		cf   *CloseFrame
		want string
	}{
		{nil, "none"},
		{&CloseFrame{}, "no code"},
		{&CloseFrame{HasCode: true, Code: 1002}, "1002"},
		{&CloseFrame{HasCode: true, Code: 3001}, "3000-3999"},
		{&CloseFrame{HasCode: true, Code: 4001}, "4000-4999"},
	} {
		if got := CloseClass(tc.cf); got != tc.want {
			t.Errorf("CloseClass(%v) = %q, want %q", tc.cf, got, tc.want)
		}
	}
}

// TestDiffAgainstBrokenServer compares a real run against a gorilla echo
// with one against a server that echoes text as binary: only the text case
// may differ.
func TestDiffAgainstBrokenServer(t *testing.T) {
	t.Parallel()
	good := startServer(t, streamEcho)
	broken := startServer(t, textAsBinaryEcho)
	cases := pick(t, "1.1.2", "1.2.2", "2.2")
	direct := runEach(t, good.url, cases)
	proxied := runEach(t, broken.url, cases)
	got := Diff(direct, proxied)
	t.Logf("differences:\n%s", strings.Join(got, "\n"))
	if len(got) == 0 {
		t.Fatal("got no differences, want the text case to differ")
	}
	for _, line := range got {
		if !strings.HasPrefix(line, "1.1.2: ") {
			t.Errorf("unexpected difference %q: only 1.1.2 sends text", line)
		}
	}
	if !containsPrefix(got, "1.1.2: verdict OK direct, FAILED proxied") {
		t.Errorf("differences %q lack the verdict change of 1.1.2", got)
	}
}
