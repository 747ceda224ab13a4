package cluster_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"github.com/wsedge/wsedge/cluster"
	"github.com/wsedge/wsedge/internal/acmetest"
	"github.com/wsedge/wsedge/internal/natstest"
	"github.com/wsedge/wsedge/internal/wstest"
	"github.com/wsedge/wsedge/tlsconf"
)

// acmeWait bounds obtaining certificates from Pebble.
const acmeWait = time.Minute

var _ tlsconf.ACMEStore = (*cluster.CertCache)(nil)

// countingStore is an instance's real store that counts the misses its
// Get returned, by key: a miss is this instance being the one to order.
type countingStore struct {
	*storeInstance
	mu     sync.Mutex
	misses map[string]int
}

func (s *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	data, err := s.storeInstance.Get(ctx, key)
	if err == autocert.ErrCacheMiss {
		s.mu.Lock()
		s.misses[key]++
		s.mu.Unlock()
	}
	return data, err
}

// ordered reports whether this instance was told to order key.
func (s *countingStore) ordered(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.misses[key] > 0
}

// acmeInstance is one wsedge instance of a cluster: its certificates
// from a tlsconf.Manager whose ACME state is in the shared store (on a
// NATS connection of its own), served on loopback as the proxy serves
// them: TLS on one listener, the HTTP-01 responder on a plain one.
type acmeInstance struct {
	name   string
	tls    *tlsconf.Manager
	store  *countingStore
	tlsLn  net.Listener
	httpLn net.Listener
}

// instanceListeners are an instance's listeners, opened before Pebble,
// which must be told where to validate.
type instanceListeners struct{ tls, http net.Listener }

func listenInstances(t *testing.T, n int) []instanceListeners {
	t.Helper()
	lns := make([]instanceListeners, n)
	for i := range lns {
		lns[i] = instanceListeners{tls: wstest.Listen(t), http: wstest.Listen(t)}
	}
	return lns
}

// startACMEInstance starts an instance getting certificates for hosts
// from p, with the given challenge, its ACME state in srv's bucket.
func startACMEInstance(t *testing.T, srv *natstest.Server, p *acmetest.Pebble, name, challenge string, hosts []string, lns instanceListeners, lockTTL time.Duration) *acmeInstance {
	t.Helper()
	store := &countingStore{storeInstance: openStore(t, srv, name, lockTTL), misses: map[string]int{}}
	cfg := tlsconf.DefaultConfig()
	cfg.ACME = &tlsconf.ACMEConfig{
		Hosts:     hosts,
		Email:     "ops@wsedge.test",
		Directory: p.Directory,
		CA:        p.CAFile,
		Challenge: challenge,
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m, err := tlsconf.NewShared(cfg, store.logger.With("component", "tls"), store)
	if err != nil {
		t.Fatal(err)
	}
	// HTTPHandler tells autocert HTTP-01 can be answered: called before
	// serving, as the proxy calls it.
	acmetest.ServeHTTP1(t, lns.http, m.HTTPHandler(http.NotFoundHandler()), nil)
	acmetest.ServeHTTP1(t, lns.tls, http.NotFoundHandler(), m.TLSConfig())
	return &acmeInstance{name: name, tls: m, store: store, tlsLn: lns.tls, httpLn: lns.http}
}

// servedLeaf handshakes with in for name, trusting only Pebble's root,
// and returns the certificate served.
func servedLeaf(ctx context.Context, in *acmeInstance, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := tls.Dialer{Config: &tls.Config{ServerName: name, RootCAs: roots, NextProtos: []string{"http/1.1"}}}
	c, err := d.DialContext(ctx, "tcp", in.tlsLn.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("%s, handshake for %s: %w", in.name, name, err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// orderers lists the instances told to order key.
func orderers(instances []*acmeInstance, key string) []string {
	var out []string
	for _, in := range instances {
		if in.store.ordered(key) {
			out = append(out, in.name)
		}
	}
	return out
}

// TestACMEClusterOrdersOncePerName is issue 12's "must show": three
// instances sharing one store, handshaking for the same names at the same
// moment, make one order per name between them and all serve the same
// certificate. Pebble validates against the first instance only, so a
// name another instance ordered is validated through the store: autocert
// keeps the challenge answer there (the TLS-ALPN-01 certificate, or the
// HTTP-01 token), and the last step makes sure that happens.
func TestACMEClusterOrdersOncePerName(t *testing.T) {
	cases := []struct {
		challenge string
		// ordersPerName: http-01 needs two, the first failing TLS-ALPN-01
		// (see tlsconf.ACMEConfig.Challenge).
		ordersPerName int64
	}{
		{tlsconf.ChallengeTLSALPN01, 1},
		{tlsconf.ChallengeHTTP01, 2},
	}
	for _, tc := range cases {
		t.Run(tc.challenge, func(t *testing.T) {
			raced := []string{"one.cluster.wsedge.test", "two.cluster.wsedge.test"}
			const late = "late.cluster.wsedge.test"
			warm := []string{"warm0.cluster.wsedge.test", "warm1.cluster.wsedge.test", "warm2.cluster.wsedge.test"}
			hosts := append(append(slices.Clone(raced), late), warm...)

			lns := listenInstances(t, 3)
			// The validator reaches the first instance, by the challenge
			// under test only.
			httpPort, tlsPort := acmetest.PortOf(t, lns[0].http.Addr().String()), acmetest.PortOf(t, lns[0].tls.Addr().String())
			if tc.challenge == tlsconf.ChallengeTLSALPN01 {
				httpPort = acmetest.PortOf(t, wstest.ClosedAddr(t))
			} else {
				tlsPort = acmetest.PortOf(t, wstest.ClosedAddr(t))
			}
			t.Setenv("PEBBLE_AUTHZREUSE", "0") // every order validates afresh
			p := acmetest.StartPebble(t, httpPort, tlsPort)
			srv := natstest.Start(t)
			var instances []*acmeInstance
			for i, l := range lns {
				instances = append(instances, startACMEInstance(t, srv, p, fmt.Sprintf("instance-%d", i), tc.challenge, hosts, l, time.Minute))
			}
			ctx, cancel := context.WithTimeout(t.Context(), acmeWait)
			defer cancel()

			// The expiry metric reads the store without taking a lock: if
			// it did, the instances would wait on locks nobody orders
			// under, and the race below would stall for a minute.
			for _, in := range instances {
				if got := in.tls.NotAfter(ctx); len(got) != 0 {
					t.Errorf("%s: certificate expiries before any order: got %v, want none", in.name, got)
				}
			}

			// Each instance first orders a name of its own, one after
			// the other, so that each has registered its ACME account
			// (the cluster's one key) before the race: in-process Pebble
			// has a data race of its own when two requests register one
			// account at once (wfe.NewAccount updates the account
			// another is encoding), which -race reports.
			for i, in := range instances {
				if _, err := servedLeaf(ctx, in, warm[i], p.Roots); err != nil {
					t.Fatalf("warming up %s: %v", warm[i], err)
				}
			}
			warmOrders := p.Orders()

			type served struct {
				instance, name string
				leaf           *x509.Certificate
				err            error
			}
			start := make(chan struct{})
			results := make(chan served, len(instances)*len(raced))
			var dials sync.WaitGroup
			for _, in := range instances {
				for _, name := range raced {
					dials.Go(func() {
						<-start
						leaf, err := servedLeaf(ctx, in, name, p.Roots)
						results <- served{instance: in.name, name: name, leaf: leaf, err: err}
					})
				}
			}
			close(start)
			dials.Wait() // each dial is bounded by ctx
			close(results)
			serials := map[string]map[string][]string{} // name -> serial -> instances
			for r := range results {
				if r.err != nil {
					t.Errorf("%v", r.err)
					continue
				}
				if serials[r.name] == nil {
					serials[r.name] = map[string][]string{}
				}
				serial := r.leaf.SerialNumber.String()
				serials[r.name][serial] = append(serials[r.name][serial], r.instance)
			}
			for _, name := range raced {
				if len(serials[name]) != 1 {
					t.Errorf("%s: got certificates (serial: instances) %v, want one for all %d instances", name, serials[name], len(instances))
				}
				if got := orderers(instances, name); len(got) != 1 {
					t.Errorf("%s: instances told to order: got %v, want exactly one", name, got)
				} else {
					t.Logf("%s: ordered by %s, validated by %s", name, got[0], instances[0].name)
				}
			}
			if got, want := p.Orders()-warmOrders, int64(len(raced))*tc.ordersPerName; got != want {
				t.Errorf("orders for %d names from %d instances: got %d, want %d", len(raced), len(instances), got, want)
			}
			if got := orderers(instances, "acme_account+key"); len(got) != 1 {
				t.Errorf("instances told to make the account key: got %v, want exactly one", got)
			}

			// A name only the last instance is asked for: it orders, and
			// the first instance answers the CA from the store.
			before := p.Orders()
			leaf, err := servedLeaf(ctx, instances[2], late, p.Roots)
			if err != nil {
				t.Fatal(err)
			}
			if got := orderers(instances, late); !slices.Equal(got, []string{instances[2].name}) {
				t.Errorf("%s: instances told to order: got %v, want [%s]", late, got, instances[2].name)
			}
			if got, want := p.Orders()-before, tc.ordersPerName; got != want {
				t.Errorf("%s: orders: got %d, want %d", late, got, want)
			}
			for _, in := range instances[:2] {
				other, err := servedLeaf(ctx, in, late, p.Roots)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := other.SerialNumber, leaf.SerialNumber; got.Cmp(want) != 0 {
					t.Errorf("%s serves %s with serial %v, want %v as %s does", in.name, late, got, want, instances[2].name)
				}
			}
			if got, want := p.Orders()-before, tc.ordersPerName; got != want {
				t.Errorf("%s: orders after every instance served it: got %d, want still %d", late, got, want)
			}

			// Every instance reports every name's expiry, from the store.
			for _, in := range instances {
				got := in.tls.NotAfter(ctx)
				for _, name := range hosts {
					if _, ok := got[name]; !ok {
						t.Errorf("%s: no expiry for %s in %v", in.name, name, got)
					}
				}
				if got[late] != leaf.NotAfter {
					t.Errorf("%s: expiry of %s: got %v, want %v", in.name, late, got[late], leaf.NotAfter)
				}
			}
		})
	}
}

// TestACMEClusterFailedOrderReleasesLock has an instance's order fail
// (the validator reaches nothing): tlsconf releases the name's lock, so
// another instance may order at once rather than after the lock's TTL.
func TestACMEClusterFailedOrderReleasesLock(t *testing.T) {
	const name = "fails.cluster.wsedge.test"
	lns := listenInstances(t, 1)
	closed := acmetest.PortOf(t, wstest.ClosedAddr(t))
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	p := acmetest.StartPebble(t, closed, closed)
	srv := natstest.Start(t)
	in := startACMEInstance(t, srv, p, "failing", "", []string{name}, lns[0], longLockTTL)
	other := openStore(t, srv, "other", longLockTTL)

	ctx, cancel := context.WithTimeout(t.Context(), acmeWait)
	defer cancel()
	if _, err := servedLeaf(ctx, in, name, p.Roots); err == nil {
		t.Fatal("handshake succeeded with a CA that can validate nothing")
	}
	if !in.store.ordered(name) {
		t.Fatalf("%s never took the lock of %s: the test shows nothing", in.name, name)
	}
	r := receive(t, getAsync(t, other, "other", name, storeWait))
	if r.err != autocert.ErrCacheMiss {
		t.Errorf("another instance's Get after the failed order: got %q, %v; want autocert.ErrCacheMiss at once (the lock TTL is %v)", r.data, r.err, longLockTTL)
	}
}

// TestACMEClusterWaitDoesNotStallOtherNames has an instance wait for a
// name another instance is ordering: meanwhile, it must go on serving the
// names it has. (autocert reads its cache under a mutex every handshake
// takes, so tlsconf waits for the lock before calling autocert.)
func TestACMEClusterWaitDoesNotStallOtherNames(t *testing.T) {
	const served, pending = "served.cluster.wsedge.test", "pending.cluster.wsedge.test"
	lns := listenInstances(t, 1)
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	p := acmetest.StartPebble(t, acmetest.PortOf(t, wstest.ClosedAddr(t)), acmetest.PortOf(t, lns[0].tls.Addr().String()))
	srv := natstest.Start(t)
	in := startACMEInstance(t, srv, p, "serving", "", []string{served, pending}, lns[0], longLockTTL)
	ctx, cancel := context.WithTimeout(t.Context(), acmeWait)
	defer cancel()
	if _, err := servedLeaf(ctx, in, served, p.Roots); err != nil {
		t.Fatal(err)
	}

	// Another instance holds the lock of pending, ordering it.
	holder := openStore(t, srv, "holder", longLockTTL)
	if _, err := holder.Get(ctx, pending); err != autocert.ErrCacheMiss {
		t.Fatalf("holder's Get: got %v, want autocert.ErrCacheMiss", err)
	}
	waited := make(chan error, 1)
	var handshake sync.WaitGroup
	t.Cleanup(handshake.Wait) // t.Context(), under ctx, ends first
	handshake.Go(func() {
		_, err := servedLeaf(ctx, in, pending, p.Roots)
		waited <- err
	})
	waitingFor(t, in.store.storeInstance, pending)

	quick, cancelQuick := context.WithTimeout(ctx, 5*time.Second)
	defer cancelQuick()
	if _, err := servedLeaf(quick, in, served, p.Roots); err != nil {
		t.Errorf("while waiting for %s: %v", pending, err)
	}

	// The holder gives up: the instance orders pending itself.
	holder.Release(ctx, pending)
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("after the holder gave up: %v", err)
		}
	case <-time.After(acmeWait):
		t.Fatalf("no certificate for %s within %v of the holder giving up", pending, acmeWait)
	}
}
