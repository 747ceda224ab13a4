package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsedge/wsedge/tlsconf"
)

// certOnDisk is a generated certificate and its key as PEM, ready to be
// written where the configuration points.
type certOnDisk struct {
	cert, key []byte
	leaf      *x509.Certificate
}

func newCertOnDisk(t *testing.T, names ...string) certOnDisk {
	t.Helper()
	c, err := tlsconf.SelfSigned(names, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return certOnDisk{
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		leaf: c.Leaf,
	}
}

// install writes the pair the way deployment tools do: each file to a
// temporary name, then renamed into place, key first.
func (c certOnDisk) install(t *testing.T, certFile, keyFile string) {
	t.Helper()
	for _, f := range []struct {
		name string
		data []byte
	}{{keyFile, c.key}, {certFile, c.cert}} {
		if err := os.WriteFile(f.name+".tmp", f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.name+".tmp", f.name); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCertificateSwapKeepsOpenConnections(t *testing.T) {
	const host = "site.wsedge.test"
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "site.pem"), filepath.Join(dir, "site-key.pem")
	first, second := newCertOnDisk(t, host), newCertOnDisk(t, host)
	roots := x509.NewCertPool()
	roots.AddCert(first.leaf)
	roots.AddCert(second.leaf)
	first.install(t, certFile, keyFile)

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
`, echoBackend(t)), listenLoopback(t))

	open, err := app.dialWSS(t, host, "/ws", roots)
	if err != nil {
		t.Fatal(err)
	}
	if got := servedLeaf(t, open).SerialNumber; got.Cmp(first.leaf.SerialNumber) != 0 {
		t.Fatalf("first connection: serial %s, want %s", got, first.leaf.SerialNumber)
	}
	roundTrip(t, open, "before the swap")

	second.install(t, certFile, keyFile)
	waitForSerial(t, app, host, roots, second.leaf)
	for i := range 100 {
		roundTrip(t, open, fmt.Sprintf("after the swap %d", i))
	}

	// A key that does not match its certificate is refused; the second
	// pair stays in service and the open connection is untouched.
	broken := certOnDisk{cert: second.cert, key: newCertOnDisk(t, host).key}
	broken.install(t, certFile, keyFile)
	waitFor(t, func() bool { return strings.Contains(app.logs.String(), "certificate reload refused") })
	if !strings.Contains(app.logs.String(), "file="+keyFile) {
		t.Errorf("the refusal does not name %s:\n%s", keyFile, app.logs)
	}
	c, err := app.dialWSS(t, host, "/ws", roots)
	if err != nil {
		t.Fatal(err)
	}
	if got := servedLeaf(t, c).SerialNumber; got.Cmp(second.leaf.SerialNumber) != 0 {
		t.Errorf("after a broken pair: serial %s, want the kept %s", got, second.leaf.SerialNumber)
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
	deadline := time.After(waitLimit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("condition not met in time")
		}
	}
}
