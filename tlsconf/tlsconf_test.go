package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/wstest"
)

const waitLimit = 10 * time.Second

// testPair is a certificate and key written to files, as a user would
// provide them.
type testPair struct {
	files  CertFile
	leaf   *x509.Certificate
	serial string
}

// writePair generates a self-signed certificate for names with an ECDSA
// P-256 (or RSA-2048) key and writes it to dir/prefix.pem and
// dir/prefix-key.pem, replacing any previous files atomically.
func writePair(t testing.TB, dir, prefix string, rsaKey bool, names ...string) testPair {
	t.Helper()
	c := wstest.NewCert(t, wstest.CertOptions{Names: names, RSA: rsaKey})
	files := CertFile{Cert: filepath.Join(dir, prefix+".pem"), Key: filepath.Join(dir, prefix+"-key.pem")}
	c.Install(t, files.Cert, files.Key)
	return testPair{files: files, leaf: c.Leaf, serial: c.Leaf.SerialNumber.String()}
}

// serveTLS accepts TLS connections with m's configuration on loopback and
// completes each handshake; it returns the address.
func serveTLS(t *testing.T, m *Manager) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(waitLimit))
				c.(*tls.Conn).Handshake()
				c.Read(make([]byte, 1)) // until the client closes
			})
		}
	})
	return ln.Addr().String()
}

// servedSerial handshakes with serverName (no SNI when empty) and returns
// the serial of the certificate the server chose.
func servedSerial(t *testing.T, addr, serverName string) (string, error) {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: waitLimit}, "tcp", addr, &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, // the test compares serials; trust is not the point
		NextProtos:         []string{"http/1.1"},
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func newTestManager(t *testing.T, cfg Config) (*Manager, *wstest.LogBuffer) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	sink := &wstest.LogBuffer{}
	m, err := New(cfg, slog.New(slog.NewTextHandler(sink, nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, sink
}

func TestSNIChoosesCertificate(t *testing.T) {
	dir := t.TempDir()
	a := writePair(t, dir, "a", false, "a.example.test", "www.a.example.test")
	b := writePair(t, dir, "b", true, "*.b.example.test")
	cfg := DefaultConfig()
	cfg.Certificates = []CertFile{a.files, b.files}
	m, _ := newTestManager(t, cfg)
	addr := serveTLS(t, m)

	cases := []struct {
		sni, want string
	}{
		{"a.example.test", a.serial},
		{"WWW.A.example.test", a.serial},
		{"chat.b.example.test", b.serial},
		{"", a.serial},                     // no SNI: the first certificate is the default
		{"unknown.example.test", a.serial}, // nobody covers it: the default too
		{"x.y.b.example.test", a.serial},   // a wildcard covers one label only
	}
	for _, tc := range cases {
		got, err := servedSerial(t, addr, tc.sni)
		if err != nil {
			t.Fatalf("SNI %q: %v", tc.sni, err)
		}
		if got != tc.want {
			t.Errorf("SNI %q: served serial %s, want %s", tc.sni, got, tc.want)
		}
	}
}

func TestNoDefaultMeansHandshakeFailure(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ACME = &ACMEConfig{Hosts: []string{"only.example.test"}, Cache: t.TempDir(), Directory: "https://127.0.0.1:1/dir"}
	m, _ := newTestManager(t, cfg)
	addr := serveTLS(t, m)
	if _, err := servedSerial(t, addr, ""); err == nil {
		t.Error("a client without SNI got a certificate, want a handshake failure (no default, no ACME order)")
	}
	if _, err := servedSerial(t, addr, "other.example.test"); err == nil {
		t.Error("a name outside acme.hosts got a certificate, want a handshake failure")
	}
}

func TestCertificateFileReload(t *testing.T) {
	dir := t.TempDir()
	first := writePair(t, dir, "site", false, "site.example.test")
	cfg := DefaultConfig()
	cfg.Certificates = []CertFile{first.files}
	cfg.WatchInterval = conftypes.Duration(10 * time.Millisecond)
	m, logs := newTestManager(t, cfg)
	addr := serveTLS(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	var watcher sync.WaitGroup
	watcher.Go(func() { m.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		watcher.Wait()
	})

	second := writePair(t, dir, "site", false, "site.example.test")
	waitServed(t, addr, "site.example.test", second.serial)
	if !strings.Contains(logs.String(), "certificate reloaded") {
		t.Errorf("no reload logged:\n%s", logs)
	}

	// A key that does not match is refused: the old pair stays, and the
	// log names the file.
	other := writePair(t, t.TempDir(), "other", false, "site.example.test")
	keyPEM, err := os.ReadFile(other.files.Key)
	if err != nil {
		t.Fatal(err)
	}
	wstest.WriteFileAtomically(t, second.files.Key, keyPEM)
	waitLog(t, logs, "certificate reload refused")
	if !strings.Contains(logs.String(), "file="+second.files.Cert) && !strings.Contains(logs.String(), "file="+second.files.Key) {
		t.Errorf("the refusal does not name the file:\n%s", logs)
	}
	if got, _ := servedSerial(t, addr, "site.example.test"); got != second.serial {
		t.Errorf("after a broken pair: served %s, want the previous %s", got, second.serial)
	}

	// SIGHUP's path: Reload loads whatever is on disk now.
	third := writePair(t, dir, "site", false, "site.example.test")
	m.Reload()
	if got, _ := servedSerial(t, addr, "site.example.test"); got != third.serial {
		t.Errorf("after Reload: served %s, want %s", got, third.serial)
	}
}

// waitServed polls until a handshake for sni gets the certificate serial.
func waitServed(t *testing.T, addr, sni, serial string) {
	t.Helper()
	wstest.Eventually(t, waitLimit, func() bool {
		got, _ := servedSerial(t, addr, sni)
		return got == serial
	})
}

func waitLog(t *testing.T, logs *wstest.LogBuffer, text string) {
	t.Helper()
	wstest.Eventually(t, waitLimit, func() bool { return strings.Contains(logs.String(), text) })
}

func TestSecureDefaults(t *testing.T) {
	dir := t.TempDir()
	p := writePair(t, dir, "s", false, "s.example.test")
	cfg := DefaultConfig()
	cfg.Certificates = []CertFile{p.files}
	m, _ := newTestManager(t, cfg)
	addr := serveTLS(t, m)

	dial := func(c *tls.Config) (*tls.Conn, error) {
		c.ServerName = "s.example.test"
		c.InsecureSkipVerify = true
		return tls.DialWithDialer(&net.Dialer{Timeout: waitLimit}, "tcp", addr, c)
	}
	if _, err := dial(&tls.Config{MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}); err == nil {
		t.Error("TLS 1.1 accepted, want TLS 1.2 minimum")
	}
	if _, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}); err == nil {
		t.Error("a CBC suite was accepted for TLS 1.2, want AEAD only")
	}
	c, err := dial(&tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := c.ConnectionState().NegotiatedProtocol; got != "http/1.1" {
		t.Errorf("ALPN for an h2-first client: got %q, want http/1.1", got)
	}

	// Session tickets: a second connection with the same cache resumes.
	cache := tls.NewLRUClientSessionCache(4)
	for i, wantResumed := range []bool{false, true} {
		c, err := dial(&tls.Config{ClientSessionCache: cache, MaxVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ConnectionState().DidResume; got != wantResumed {
			t.Errorf("connection %d: resumed %v, want %v", i, got, wantResumed)
		}
		c.Close()
	}

	cfg.MinVersion = "1.3"
	m13, _ := newTestManager(t, cfg)
	addr = serveTLS(t, m13)
	if _, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12}); err == nil {
		t.Error("min_version 1.3: TLS 1.2 accepted")
	}
}

// TestErrorsNameTheField: Validate reports what the section says wrong
// without reading a file; Check and New read the files and report what is
// wrong with them the same way, field by field.
func TestErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	a := writePair(t, dir, "a", false, "a.example.test")
	b := writePair(t, dir, "b", false, "b.example.test")
	cases := []struct {
		name  string
		cfg   Config
		reads bool // found by reading files (Check, New), not by Validate
		want  []string
	}{
		{"missing file", Config{Certificates: []CertFile{{Cert: filepath.Join(dir, "nope.pem"), Key: a.files.Key}}}, true,
			[]string{"certificates[0].cert: read certificate: open " + filepath.Join(dir, "nope.pem")}},
		{"key of another certificate", Config{Certificates: []CertFile{{Cert: a.files.Cert, Key: b.files.Key}}}, true,
			[]string{"certificates[0].key: load " + a.files.Cert + " and " + b.files.Key, "private key does not match"}},
		{"acme name also in a file", Config{Certificates: []CertFile{a.files}, ACME: &ACMEConfig{Hosts: []string{"a.example.test"}}}, true,
			[]string{"acme.hosts[0]: \"a.example.test\" is already covered by certificate " + a.files.Cert}},
		{"acme CA bundle missing", Config{ACME: &ACMEConfig{Hosts: []string{"x.test"}, CA: filepath.Join(dir, "no-ca.pem")}}, true,
			[]string{"acme.ca: read CA bundle: open " + filepath.Join(dir, "no-ca.pem")}},
		{"acme wildcard", Config{ACME: &ACMEConfig{Hosts: []string{"*.example.test"}}}, false, []string{"acme.hosts[0]", "DNS-01"}},
		{"acme plain http directory", Config{ACME: &ACMEConfig{Hosts: []string{"x.test"}, Directory: "http://ca.test/dir"}}, false, []string{"acme.directory"}},
		{"bad min version", Config{SelfSigned: []string{"localhost"}, MinVersion: "1.1"}, false, []string{"min_version"}},
		{"acme unknown challenge", Config{ACME: &ACMEConfig{Hosts: []string{"x.test"}, Challenge: "dns-01"}}, false,
			[]string{`acme.challenge: "dns-01": want "tls-alpn-01" or "http-01"`}},
		{"negative hsts", Config{SelfSigned: []string{"localhost"}, HSTS: -1}, false, []string{"hsts: must not be negative"}},
		{"hsts below a second", Config{SelfSigned: []string{"localhost"}, HSTS: conftypes.Duration(999 * time.Millisecond)}, false,
			[]string{"hsts: 999ms is below 1s and would send max-age=0, which tells browsers to forget"}},
		{"include_subdomains without hsts", Config{SelfSigned: []string{"localhost"}, HSTSIncludeSubdomains: true}, false,
			[]string{"hsts_include_subdomains: set hsts too"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.MinVersion == "" {
				tc.cfg.MinVersion = "1.2"
			}
			err := tc.cfg.Validate()
			if tc.reads {
				if err != nil {
					t.Fatalf("Validate: %v; it reads no file and should accept this", err)
				}
				_, newErr := New(tc.cfg, discardLogger())
				checkFieldErrors(t, "New", newErr, tc.want)
				err = Check(tc.cfg)
				checkFieldErrors(t, "Check", err, tc.want)
				return
			}
			checkFieldErrors(t, "Validate", err, tc.want)
		})
	}
}

func checkFieldErrors(t *testing.T, step string, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s accepted it", step)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error lacks %q:\n%v", step, w, err)
		}
	}
	for _, e := range conftypes.Flatten(err) {
		var fe *conftypes.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("%s: %v is not a FieldError", step, e)
		}
	}
}

func TestSelfSignedCertFileHoldsNoKey(t *testing.T) {
	out := filepath.Join(t.TempDir(), "dev.pem")
	cfg := DefaultConfig()
	cfg.SelfSigned = []string{"localhost", "127.0.0.1"}
	cfg.SelfSignedCertFile = out
	newTestManager(t, cfg)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "PRIVATE KEY") || !strings.Contains(string(data), "BEGIN CERTIFICATE") {
		t.Errorf("written file should hold the certificate only:\n%s", data)
	}
	cfg.SelfSignedCertFile = ""
	before, _ := os.ReadDir(filepath.Dir(out))
	newTestManager(t, cfg)
	after, _ := os.ReadDir(filepath.Dir(out))
	if len(after) != len(before) {
		t.Error("self_signed without self_signed_cert_file wrote a file")
	}
}

func TestReloadWaitsForThePairToSettle(t *testing.T) {
	dir := t.TempDir()
	first := writePair(t, dir, "site", false, "site.example.test")
	cfg := DefaultConfig()
	cfg.Certificates = []CertFile{first.files}
	m, logs := newTestManager(t, cfg)
	addr := serveTLS(t, m)

	// A tool replaces the key, then (a check later) the certificate. The
	// check in between sees a key that does not match: not yet a pair.
	next := writePair(t, t.TempDir(), "next", false, "site.example.test")
	for _, f := range []struct{ from, to string }{{next.files.Key, first.files.Key}, {next.files.Cert, first.files.Cert}} {
		data, err := os.ReadFile(f.from)
		if err != nil {
			t.Fatal(err)
		}
		wstest.WriteFileAtomically(t, f.to, data)
		m.reload(false) // the files just changed: wait
	}
	if got, _ := servedSerial(t, addr, "site.example.test"); got != first.serial {
		t.Errorf("while the files were changing: served %s, want the first %s", got, first.serial)
	}
	m.reload(false) // unchanged for a whole interval: load
	if got, _ := servedSerial(t, addr, "site.example.test"); got != next.serial {
		t.Errorf("once settled: served %s, want %s", got, next.serial)
	}
	if strings.Contains(logs.String(), "refused") {
		t.Errorf("the half-replaced pair was reported as broken:\n%s", logs)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
