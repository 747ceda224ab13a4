package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"time"
)

// NotAfter returns, by name, when the certificate served for it expires:
// every name of the configured files and of the self-signed certificate,
// and each ACME host whose certificate is in the ACME cache (read from
// there: autocert keeps no list). For the certificate-expiry metric.
func (m *Manager) NotAfter(ctx context.Context) map[string]time.Time {
	out := map[string]time.Time{}
	add := func(c *tls.Certificate) {
		if c == nil || c.Leaf == nil {
			return
		}
		for _, n := range c.Leaf.DNSNames {
			out[n] = c.Leaf.NotAfter
		}
		for _, ip := range c.Leaf.IPAddresses {
			out[ip.String()] = c.Leaf.NotAfter
		}
	}
	m.reloadMu.Lock()
	for _, fc := range m.files {
		add(fc.cert)
	}
	m.reloadMu.Unlock()
	add(m.selfSigned)
	if m.acme != nil {
		for host := range m.acme.hosts {
			if leaf := m.acme.cachedLeaf(ctx, host); leaf != nil {
				out[host] = leaf.NotAfter
			}
		}
	}
	return out
}

// cachedLeaf reads host's certificate from the ACME cache, or nil.
// autocert stores the key and the chain, leaf first, as PEM under the
// host's name (its ECDSA certificate, which wsedge asks for). A shared
// store is read with Peek: a Get that misses would take the order lock
// for a certificate this reader does not order.
func (a *acmeIssuer) cachedLeaf(ctx context.Context, host string) *x509.Certificate {
	read := a.manager.Cache.Get
	if a.shared != nil {
		read = a.shared.store.Peek
	}
	data, err := read(ctx, host)
	if err != nil {
		return nil
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil
		}
		if block.Type == "CERTIFICATE" {
			leaf, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil
			}
			return leaf
		}
	}
}
