package tlsconf

import (
	"context"
	"crypto/tls"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ACMEStore keeps the ACME account key and certificates for several
// wsedge instances at once (cluster.CertCache, issue 12), in place of the
// tls.acme.cache directory. Beyond autocert.Cache, its Get takes part in
// an order lock: on a miss it either returns autocert.ErrCacheMiss, and
// the caller is the one instance that orders (or makes the account key),
// or it waits for the instance that does and returns what that one Puts.
type ACMEStore interface {
	autocert.Cache
	// Release drops the order lock this instance holds for key, if any,
	// so that another instance orders at once rather than after the
	// lock's TTL: called when an order failed, since no Put follows.
	Release(ctx context.Context, key string)
	// Peek reads key without taking part in the order lock: a miss is
	// autocert.ErrCacheMiss, and nobody is made to wait for it.
	Peek(ctx context.Context, key string) ([]byte, error)
}

// acmeTurnWait bounds waiting for another instance's order before a
// handshake, as autocert bounds its own work for one (five minutes in
// autocert.Manager.GetCertificate).
const acmeTurnWait = 5 * time.Minute

// releaseWait bounds releasing a lock after a failed order; if it cannot
// be released, the lock's TTL ends it.
const releaseWait = 10 * time.Second

// NewShared is New with the ACME state in store, shared with the other
// instances of a cluster, instead of the tls.acme.cache directory, which
// is then not used (not even created). store may be nil, an interface
// holding nothing (not a nil *cluster.CertCache): then it is New. Without
// tls.acme, store is not used.
//
// Each instance still keeps the certificates it serves in memory, and
// renews them on autocert's timer (see cluster.CertCache on renewals).
func NewShared(cfg Config, log *slog.Logger, store ACMEStore) (*Manager, error) {
	return newManager(cfg, log, store)
}

// sharedState is what an ACME issuer with a shared store adds.
type sharedState struct {
	store ACMEStore
	// ready holds the autocert keys of the certificates this instance
	// has served: autocert has them in memory and reads the store for
	// them no more, so neither need handshakes.
	ready sync.Map // autocert key -> struct{}
}

// getCertificate is autocert's GetCertificate with a shared store.
//
// Before autocert's, it waits its turn in the order lock itself, because
// autocert reads its cache for a certificate while holding a mutex that
// every handshake of the instance takes (autocert.Manager.cert): a wait
// there would stall all handshakes behind another instance's order, and
// two instances ordering two names could each wait for the other until
// the lock's TTL (cluster's TestACMEClusterWaitDoesNotStallOtherNames).
// Once this Get returns, the store has the certificate or this instance
// holds the lock, and autocert's own Get returns at once.
//
// When autocert fails, no Put follows: the locks of the name are released
// so that another instance can try at once. Otherwise (the process dies
// in the middle of an order), the lock's TTL ends the lock.
func (a *acmeIssuer) getCertificate(hello *tls.ClientHelloInfo, name string) (*tls.Certificate, error) {
	s := a.shared
	if s == nil {
		return a.manager.GetCertificate(hello)
	}
	if wantsTokenCert(hello) {
		// A TLS-ALPN-01 validation: autocert answers from memory, or from
		// the store if another instance is the one ordering.
		return a.manager.GetCertificate(hello)
	}
	key := autocertKey(hello, name)
	if _, ok := s.ready.Load(key); !ok {
		parent := hello.Context()
		if parent == nil { // a ClientHelloInfo not from a handshake
			parent = context.Background()
		}
		ctx, cancel := context.WithTimeout(parent, acmeTurnWait)
		_, err := s.store.Get(ctx, key)
		cancel()
		if err != nil && err != autocert.ErrCacheMiss {
			return nil, err
		}
	}
	c, err := a.manager.GetCertificate(hello)
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), releaseWait)
		defer cancel()
		s.store.Release(ctx, name)
		s.store.Release(ctx, name+"+rsa")
		return nil, err
	}
	s.ready.Store(key, struct{}{})
	return c, nil
}

// wantsTokenCert reports whether hello is a CA's TLS-ALPN-01 validation
// (RFC 8737 section 3: acme-tls/1 and nothing else), as autocert tells.
func wantsTokenCert(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto
}

// autocertKey is the cache key autocert uses for hello's certificate:
// the name for an ECDSA certificate, name+"+rsa" for a client without
// ECDSA support.
func autocertKey(hello *tls.ClientHelloInfo, name string) string {
	if supportsECDSA(hello) {
		return name
	}
	return name + "+rsa"
}

// supportsECDSA decides as autocert does (golang.org/x/crypto/acme/autocert,
// supportsECDSA, copied: it is not exported), so that the key waited for
// is the key autocert reads.
func supportsECDSA(hello *tls.ClientHelloInfo) bool {
	// The "signature_algorithms" extension, if present, limits the key
	// exchange algorithms allowed by the cipher suites. See RFC 5246,
	// section 7.4.1.4.1.
	if hello.SignatureSchemes != nil {
		ecdsaOK := false
	schemeLoop:
		for _, scheme := range hello.SignatureSchemes {
			const tlsECDSAWithSHA1 tls.SignatureScheme = 0x0203
			switch scheme {
			case tlsECDSAWithSHA1, tls.ECDSAWithP256AndSHA256,
				tls.ECDSAWithP384AndSHA384, tls.ECDSAWithP521AndSHA512:
				ecdsaOK = true
				break schemeLoop
			}
		}
		if !ecdsaOK {
			return false
		}
	}
	if hello.SupportedCurves != nil {
		ecdsaOK := false
		for _, curve := range hello.SupportedCurves {
			if curve == tls.CurveP256 {
				ecdsaOK = true
				break
			}
		}
		if !ecdsaOK {
			return false
		}
	}
	for _, suite := range hello.CipherSuites {
		switch suite {
		case tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305:
			return true
		}
	}
	return false
}
