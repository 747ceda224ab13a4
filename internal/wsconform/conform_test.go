package wsconform

import (
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// invalidUTF8 lists the catalogue's invalid UTF-8 cases, which gorilla
// (v1.5.3 does not validate text messages) answers by echoing.
var invalidUTF8 = map[string]bool{
	"6.3.1": true, "6.3.2": true, "6.8.1": true, "6.11.5": true, "6.12.1": true,
	"6.16.1": true, "6.17.1": true, "6.20.1": true, "6.21.1": true,
}

// TestGorillaEchoCatalogue runs the whole catalogue against a gorilla echo
// server and logs the verdict table. gorilla conforms except where it
// leaves UTF-8 to the application, which must show as INFORMATIONAL.
//
// It and TestBrokenServers run alone, not in parallel with other tests:
// the cases keep Autobahn's one-second timeouts, which a starved server
// (-race on one CPU) can miss.
func TestGorillaEchoCatalogue(t *testing.T) {
	srv := startServer(t, streamEcho)
	cases := Cases()
	results := runCases(t, srv.url, cases)
	t.Logf("gorilla/websocket echo server, %d cases:\n%s", len(results), FormatTable(results))
	for _, r := range results {
		if r.Verdict != VerdictOK && len(r.Notes) > 0 {
			t.Logf("%s %s: %q", r.ID, r.Verdict, r.Notes)
		}
	}

	for i, r := range results {
		if r.ID != cases[i].ID {
			t.Errorf("result %d is for %s, want %s", i, r.ID, cases[i].ID)
		}
		if r.Verdict == "" || r.CloseVerdict == "" {
			t.Errorf("%s: no verdict (%q, %q)", r.ID, r.Verdict, r.CloseVerdict)
		}
		switch {
		case strings.HasPrefix(r.ID, "1."):
			if r.Verdict != VerdictOK || r.CloseVerdict != CloseOK {
				t.Errorf("%s: got %s/%s, want OK/OK: %v", r.ID, r.Verdict, r.CloseVerdict, r.Notes)
			}
		case invalidUTF8[r.ID]:
			if r.Verdict != VerdictInformational || len(r.Observed.Messages()) != 1 {
				t.Errorf("%s: got %s with messages %v, want INFORMATIONAL with the invalid text echoed: %v",
					r.ID, r.Verdict, r.Observed.Messages(), r.Notes)
			}
		case !r.Passed():
			t.Errorf("%s: got %s/%s, want a pass: %v", r.ID, r.Verdict, r.CloseVerdict, r.Notes)
		}
	}
}

// TestGorillaOneByteClose pins down what gorilla v1.5.3 does with a close
// payload of 1 byte (case 7.3.2): it treats it as "no status" and answers
// with an empty Close instead of 1002. Autobahn accepts a Close without a
// code there, so the verdict is OK; the observation must still show it.
func TestGorillaOneByteClose(t *testing.T) {
	t.Parallel()
	srv := startServer(t, streamEcho)
	r := runCases(t, srv.url, pick(t, "7.3.2"))[0]
	t.Logf("7.3.2: %s; notes %q", Summary(r.Observed), r.Notes)
	rc := r.Observed.CloseReceived
	if rc == nil || rc.HasCode {
		t.Errorf("server close %v, want a Close without code", rc)
	}
	if r.Verdict != VerdictOK || r.CloseVerdict != CloseOK {
		t.Errorf("got %s/%s, want OK/OK: %v", r.Verdict, r.CloseVerdict, r.Notes)
	}
}

// TestBrokenServers checks that the verdicts catch a server that breaks
// RFC 6455. The cases run concurrently, since against a broken server each
// waits out its Autobahn timeout.
func TestBrokenServers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		handle func(*websocket.Conn)
		cases  []Case
		// failed are the IDs that must be FAILED; the rest must pass.
		failed map[string]bool
	}{
		{
			name:   "no pongs",
			handle: ponglessEcho,
			cases:  section("2."),
			failed: map[string]bool{"2.1": true, "2.2": true, "2.3": true, "2.4": true, "2.6": true,
				"2.9": true, "2.10": true, "2.11": true},
		},
		{
			name:   "text echoed as binary",
			handle: textAsBinaryEcho,
			cases:  section("1."),
			failed: map[string]bool{"1.1.1": true, "1.1.2": true, "1.1.3": true, "1.1.4": true,
				"1.1.5": true, "1.1.6": true, "1.1.7": true, "1.1.8": true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tc.handle)
			results := runEach(t, srv.url, tc.cases)
			t.Logf("%s:\n%s", tc.name, FormatTable(results))
			for _, r := range results {
				switch {
				case tc.failed[r.ID] && r.Verdict != VerdictFailed:
					t.Errorf("%s: got %s/%s, want FAILED (%s)", r.ID, r.Verdict, r.CloseVerdict, Summary(r.Observed))
				case !tc.failed[r.ID] && !r.Passed():
					t.Errorf("%s: got %s/%s, want a pass: %v", r.ID, r.Verdict, r.CloseVerdict, r.Notes)
				}
			}
		})
	}
}
