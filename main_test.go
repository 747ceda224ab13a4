package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestValidateCommand(t *testing.T) {
	cases := []struct {
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{[]string{"validate", "-config", "config.example.yaml"}, 0, "ok\n", nil},
		{[]string{"validate"}, 0, "ok\n", nil}, // the embedded default
		{[]string{"validate", "-config", "testdata/bad_many.yaml"}, 1, "", []string{
			"testdata/bad_many.yaml:3: listen.http:",
			"testdata/bad_many.yaml:5: keepalive.ping_interval:",
			"testdata/bad_many.yaml:9: routes[0].backend (route \"light\"):",
			"testdata/bad_many.yaml:12: routes[1].backend (route \"logs\"):",
			"testdata/bad_many.yaml:13: routes[2].path",
		}},
		// Found by reading the files it names, all at once.
		{[]string{"validate", "-config", "testdata/bad_files.yaml"}, 1, "", []string{
			"testdata/bad_files.yaml:6: tls.certificates[0].cert: read certificate: open ",
			"testdata/bad_files.yaml:13: routes[0].tls.ca (route \"secure\"): read CA bundle: open ",
			"testdata/bad_files.yaml:17: routes[1].root (route \"logs\"): ",
		}},
		{[]string{"validate", "-config", "testdata/no-such-file.yaml"}, 1, "", []string{"no such file"}},
		{[]string{"-version"}, 0, "wsedge ", nil},
		{[]string{"-no-such-flag"}, 2, "", []string{"flag provided but not defined"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code: got %d, want %d (stderr %q)", code, tc.wantCode, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), tc.wantStdout) || (tc.wantStdout == "" && stdout.Len() > 0) {
				t.Errorf("stdout: got %q, want %q", stdout.String(), tc.wantStdout)
			}
			for _, want := range tc.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
		})
	}
}
