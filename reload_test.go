package main

import (
	"crypto/x509"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/internal/wstest"
)

func TestCertificateSwapKeepsOpenConnections(t *testing.T) {
	const host = "site.wsedge.test"
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "site.pem"), filepath.Join(dir, "site-key.pem")
	newCert := func() *wstest.Cert { return wstest.NewCert(t, wstest.CertOptions{Names: []string{host}}) }
	first, second := newCert(), newCert()
	roots := x509.NewCertPool()
	roots.AddCert(first.Leaf)
	roots.AddCert(second.Leaf)
	first.Install(t, certFile, keyFile)

	app := startApp(t, dir, fmt.Sprintf(`
listen:
  https: "127.0.0.1:0"
  http: "127.0.0.1:0"
tls:
  certificates:
    - cert: site.pem
      key: site-key.pem
  watch_interval: 10ms
routes:
  - path: /ws
    backend: %s/
`, wstest.EchoServer(t)), listenLoopback(t))

	open, err := app.dialWSS(t, host, "/ws", roots)
	if err != nil {
		t.Fatal(err)
	}
	if got := servedLeaf(t, open).SerialNumber; got.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Fatalf("first connection: serial %s, want %s", got, first.Leaf.SerialNumber)
	}
	roundTrip(t, open, "before the swap")

	second.Install(t, certFile, keyFile)
	waitForSerial(t, app, host, roots, second.Leaf)
	for i := range 100 {
		roundTrip(t, open, fmt.Sprintf("after the swap %d", i))
	}

	// A key that does not match its certificate is refused; the second
	// pair stays in service and the open connection is untouched.
	broken := &wstest.Cert{CertPEM: second.CertPEM, KeyPEM: newCert().KeyPEM}
	broken.Install(t, certFile, keyFile)
	waitFor(t, func() bool { return strings.Contains(app.logs.String(), "certificate reload refused") })
	if !strings.Contains(app.logs.String(), "file="+keyFile) {
		t.Errorf("the refusal does not name %s:\n%s", keyFile, app.logs)
	}
	c, err := app.dialWSS(t, host, "/ws", roots)
	if err != nil {
		t.Fatal(err)
	}
	if got := servedLeaf(t, c).SerialNumber; got.Cmp(second.Leaf.SerialNumber) != 0 {
		t.Errorf("after a broken pair: serial %s, want the kept %s", got, second.Leaf.SerialNumber)
	}
	roundTrip(t, open, "still open")
}

func waitForSerial(t *testing.T, app *runningApp, host string, roots *x509.CertPool, want *x509.Certificate) {
	t.Helper()
	waitFor(t, func() bool {
		c, err := app.dialWSS(t, host, "/ws", roots)
		if err != nil {
			return false
		}
		defer c.Close()
		return servedLeaf(t, c).SerialNumber.Cmp(want.SerialNumber) == 0
	})
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	wstest.Eventually(t, waitLimit, cond)
}
