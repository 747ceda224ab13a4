package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
)

// BenchmarkHandshake measures TLS handshakes per second against the
// https listener's configuration (Manager.TLSConfig), over loopback TCP:
// full handshakes against resumed ones (session tickets), with an ECDSA
// P-256 and an RSA-2048 certificate, for TLS 1.3 and 1.2.
//
// Both ends run in this process on the same cores, so a figure is the
// cost of client and server together; the ratios between sub-benchmarks
// of one run are what to compare. Each iteration is a fresh TCP
// connection, a complete handshake, and a close.
func BenchmarkHandshake(b *testing.B) {
	for _, key := range []struct {
		name string
		rsa  bool
	}{{"ECDSA-P256", false}, {"RSA-2048", true}} {
		dir := b.TempDir()
		pair := writePair(b, dir, "bench", key.rsa, "bench.example.test")
		cfg := DefaultConfig()
		cfg.Certificates = []CertFile{pair.files}
		m, err := New(cfg, discardLogger())
		if err != nil {
			b.Fatal(err)
		}
		addr := benchServer(b, m.TLSConfig())
		roots := x509.NewCertPool()
		roots.AddCert(pair.leaf)
		for _, version := range []struct {
			name string
			v    uint16
		}{{"TLS1.3", tls.VersionTLS13}, {"TLS1.2", tls.VersionTLS12}} {
			for _, resumed := range []bool{false, true} {
				mode := "full"
				if resumed {
					mode = "resumed"
				}
				b.Run(key.name+"/"+version.name+"/"+mode, func(b *testing.B) {
					client := &tls.Config{RootCAs: roots, ServerName: "bench.example.test", MaxVersion: version.v, NextProtos: []string{"http/1.1"}}
					if resumed {
						client.ClientSessionCache = tls.NewLRUClientSessionCache(1)
						handshake(b, addr, client, false) // prime the ticket
					}
					b.ReportAllocs()
					b.ResetTimer()
					for range b.N {
						handshake(b, addr, client, resumed)
					}
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
				})
			}
		}
	}
}

func handshake(b *testing.B, addr string, cfg *tls.Config, wantResumed bool) {
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		b.Fatal(err)
	}
	// The server's first byte comes after its TLS 1.3 session tickets, so
	// reading it stores them.
	if _, err := conn.Read(make([]byte, 1)); err != nil {
		b.Fatal(err)
	}
	if conn.ConnectionState().DidResume != wantResumed {
		b.Fatalf("resumed: got %v, want %v", conn.ConnectionState().DidResume, wantResumed)
	}
	conn.Close()
}

// benchServer accepts TLS connections, completes their handshakes and
// writes one byte (after which the client has the session tickets a TLS
// 1.3 server sends once the handshake is done).
func benchServer(b *testing.B, cfg *tls.Config) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	b.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, cfg)
				defer tc.Close()
				if tc.Handshake() == nil {
					tc.Write([]byte{1})
					tc.Read(make([]byte, 1)) // until the client closes
				}
			}()
		}
	}()
	return ln.Addr().String()
}
