package interop

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// systemPython is Debian's interpreter, which python3-websockets and
// python3-tornado install into. A python3 earlier on PATH (pyenv, a
// virtualenv) usually lacks them, so the suite never looks there.
const systemPython = "/usr/bin/python3"

// pythonDir holds the Python peers.
const pythonDir = "testdata/python"

var pythonChecks struct {
	mu      sync.Mutex
	results map[string]pythonCheck // by module
}

type pythonCheck struct{ version, problem string }

// requirePythonModule checks once per run that systemPython imports
// module (websockets or tornado) and returns its version, or ends the
// test through missingPeer naming the Debian package.
func requirePythonModule(t *testing.T, module string) string {
	t.Helper()
	pythonChecks.mu.Lock()
	r, ok := pythonChecks.results[module]
	if !ok {
		out, err := exec.Command(systemPython, "-c", fmt.Sprintf("import %s as m; print(getattr(m, '__version__', None) or m.version)", module)).CombinedOutput()
		if err != nil {
			r.problem = fmt.Sprintf("%s cannot import %s (apt-get install python3-%s): %v: %s",
				systemPython, module, module, err, strings.TrimSpace(lastLine(string(out))))
		} else {
			r.version = strings.TrimSpace(string(out))
		}
		if pythonChecks.results == nil {
			pythonChecks.results = map[string]pythonCheck{}
		}
		pythonChecks.results[module] = r
	}
	pythonChecks.mu.Unlock()
	if r.problem != "" {
		missingPeer(t, r.problem)
	}
	return r.version
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// startPython starts testdata/python/script with systemPython, after
// checking that it has module, and waits until it listens; addr is its
// host:port.
func startPython(t *testing.T, module, script string, args ...string) (p *peer, addr string) {
	t.Helper()
	requirePythonModule(t, module)
	// -u: events reach the test as they are printed.
	p = startPeer(t, "python "+script, systemPython, append([]string{"-u", filepath.Join(pythonDir, script)}, args...)...)
	return p, p.waitReady(t)
}
