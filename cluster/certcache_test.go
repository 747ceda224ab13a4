package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/acme/autocert"

	"github.com/wsedge/wsedge/cluster"
	"github.com/wsedge/wsedge/internal/natstest"
	"github.com/wsedge/wsedge/internal/wstest"
)

// storeWait bounds every wait of the certificate store tests that no
// lock TTL should end.
const storeWait = 20 * time.Second

// longLockTTL is a lock TTL no test waits out: a test that finishes in
// time shows the lock went some other way.
const longLockTTL = 10 * time.Minute

// storeBucket is the bucket the store tests share their caches in.
const storeBucket = "acme_test"

// jetStreamFor connects to srv on a connection of its own, as another
// instance would, closed at the test's end.
func jetStreamFor(t *testing.T, srv *natstest.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// storeInstance is one instance's view of the shared store.
type storeInstance struct {
	*cluster.CertCache
	conn   *nats.Conn
	log    *wstest.LogBuffer
	logger *slog.Logger // writes to log
}

// openStore opens the shared store as instance owner, on a connection of
// its own; its log is shown if the test fails.
func openStore(t *testing.T, srv *natstest.Server, owner string, lockTTL time.Duration) *storeInstance {
	t.Helper()
	nc, js := jetStreamFor(t, srv)
	logs := &wstest.LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of %s:\n%s", owner, logs)
		}
	})
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(t.Context(), storeWait)
	defer cancel()
	c, err := cluster.NewCertCache(ctx, js, cluster.CertCacheConfig{Bucket: storeBucket, LockTTL: lockTTL, Owner: owner}, log)
	if err != nil {
		t.Fatal(err)
	}
	return &storeInstance{CertCache: c, conn: nc, log: logs, logger: log}
}

// rawBucket opens a bucket directly, to look at what the store wrote.
func rawBucket(t *testing.T, srv *natstest.Server, name string) jetstream.KeyValue {
	t.Helper()
	_, js := jetStreamFor(t, srv)
	kv, err := js.KeyValue(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// locked reports whether the lock bucket holds a live lock under kvKey.
func locked(t *testing.T, locks jetstream.KeyValue, kvKey string) bool {
	t.Helper()
	_, err := locks.Get(t.Context(), kvKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("read lock %s: %v", kvKey, err)
	}
	return true
}

// getResult is what a Get returned, and when.
type getResult struct {
	who  string
	data []byte
	err  error
	at   time.Time
}

// getAsync runs Get on c in a goroutine the test waits for, and delivers
// the result on the returned channel.
func getAsync(t *testing.T, c *storeInstance, who, key string, wait time.Duration) <-chan getResult {
	t.Helper()
	out := make(chan getResult, 1)
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(t.Context(), wait) // ends before the cleanup waits
		defer cancel()
		data, err := c.Get(ctx, key)
		out <- getResult{who: who, data: data, err: err, at: time.Now()}
	}()
	return out
}

// receive returns the next result, failing the test after storeWait.
func receive(t *testing.T, ch <-chan getResult) getResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(storeWait):
		t.Fatalf("no Get result within %v", storeWait)
		return getResult{}
	}
}

// waitingFor waits until c has logged that it waits for another
// instance's value (Eventually, as there is no event to wait on).
func waitingFor(t *testing.T, c *storeInstance, key string) {
	t.Helper()
	wstest.EventuallyOr(t, storeWait, func() bool {
		for line := range strings.Lines(c.log.String()) {
			if strings.Contains(line, "waiting for another instance to store it") && strings.Contains(line, "key="+key+" ") {
				return true
			}
		}
		return false
	}, func() string { return "the waiter never logged its wait:\n" + c.log.String() })
}

// TestCertCacheRoundTrip stores and reads back keys of every kind autocert
// uses, and others no key-value key may hold as they are: each keeps its
// own value, under the documented encoding.
func TestCertCacheRoundTrip(t *testing.T) {
	srv := natstest.Start(t)
	c := openStore(t, srv, "one", longLockTTL)
	data := rawBucket(t, srv, storeBucket)
	locks := rawBucket(t, srv, storeBucket+"_locks")
	cases := []struct {
		name, key, kvKey string
		coordinated      bool
	}{
		{"account key", "acme_account+key", "acme_account=2Bkey", true},
		{"ECDSA certificate", "example.com", "example.com", true},
		{"RSA certificate", "example.com+rsa", "example.com=2Brsa", true},
		{"wildcard", "*.example.com", "=2A.example.com", true},
		{"escape character", "a=b.example.com", "a=3Db.example.com", true},
		{"dots that cannot be kept", ".a..b.", "=2Ea.=2Eb=2E", true},
		{"non-ASCII", "é.example", "=C3=A9.example", true},
		{"slash and wildcard", "a/b>c", "a=2Fb=3Ec", true},
		{"HTTP-01 token", "tok_EN-1+http-01", "tok_EN-1=2Bhttp-01", false},
		{"TLS-ALPN-01 certificate", "example.com+token", "example.com=2Btoken", false},
		{"legacy account key", "acme_account.key", "acme_account.key", false},
	}
	ctx, cancel := context.WithTimeout(t.Context(), storeWait)
	defer cancel()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Get(ctx, tc.key); err != autocert.ErrCacheMiss {
				t.Fatalf("Get before Put: got %v, want autocert.ErrCacheMiss", err)
			}
			if got := locked(t, locks, tc.kvKey); got != tc.coordinated {
				t.Errorf("lock %s after a miss: got %v, want %v", tc.kvKey, got, tc.coordinated)
			}
			value := []byte("value of " + tc.key)
			if err := c.Put(ctx, tc.key, value); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if locked(t, locks, tc.kvKey) {
				t.Errorf("lock %s still there after Put", tc.kvKey)
			}
			for op, read := range map[string]func(context.Context, string) ([]byte, error){"Get": c.Get, "Peek": c.Peek} {
				got, err := read(ctx, tc.key)
				if err != nil || !bytes.Equal(got, value) {
					t.Errorf("%s: got %q, %v; want %q", op, got, err, value)
				}
			}
			e, err := data.Get(ctx, tc.kvKey)
			if err != nil {
				t.Fatalf("stored under %s: %v", tc.kvKey, err)
			}
			if !bytes.Equal(e.Value(), value) {
				t.Errorf("bucket key %s: got %q, want %q", tc.kvKey, e.Value(), value)
			}
			if err := c.Delete(ctx, tc.key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := c.Peek(ctx, tc.key); err != autocert.ErrCacheMiss {
				t.Errorf("Peek after Delete: got %v, want autocert.ErrCacheMiss", err)
			}
		})
	}
}

// TestCertCacheMissLocksPutReleases follows one key through the lock: a
// miss takes it (and a second Get of the same instance does not wait on
// it), Peek never takes it, Put releases it, and another instance reads
// the value.
func TestCertCacheMissLocksPutReleases(t *testing.T) {
	srv := natstest.Start(t)
	a := openStore(t, srv, "a", longLockTTL)
	b := openStore(t, srv, "b", longLockTTL)
	locks := rawBucket(t, srv, storeBucket+"_locks")
	ctx, cancel := context.WithTimeout(t.Context(), storeWait)
	defer cancel()
	const key = "peeked.example"

	if _, err := b.Peek(ctx, key); err != autocert.ErrCacheMiss {
		t.Fatalf("Peek: got %v, want autocert.ErrCacheMiss", err)
	}
	if locked(t, locks, key) {
		t.Fatal("Peek took the lock")
	}
	if _, err := a.Get(ctx, key); err != autocert.ErrCacheMiss {
		t.Fatalf("a's Get: got %v, want autocert.ErrCacheMiss", err)
	}
	e, err := locks.Get(ctx, key)
	if err != nil {
		t.Fatalf("lock after a miss: %v", err)
	}
	if owner, _, _ := strings.Cut(string(e.Value()), " "); owner != "a" {
		t.Errorf("lock value %q: got owner %q, want a", e.Value(), owner)
	}
	if _, err := a.Get(ctx, key); err != autocert.ErrCacheMiss {
		t.Fatalf("a's second Get: got %v, want autocert.ErrCacheMiss at once", err)
	}
	if err := a.Put(ctx, key, []byte("certificate")); err != nil {
		t.Fatal(err)
	}
	if locked(t, locks, key) {
		t.Error("lock still there after Put")
	}
	got, err := b.Get(ctx, key)
	if err != nil || string(got) != "certificate" {
		t.Errorf("b's Get: got %q, %v; want %q", got, err, "certificate")
	}
}

// TestCertCacheOneOrderer races three instances (three connections) to a
// missing key: exactly one is told to make the value, and the others
// wait for its Put and return the same bytes.
func TestCertCacheOneOrderer(t *testing.T) {
	srv := natstest.Start(t)
	const key = "race.example"
	var stores []*storeInstance
	for i := range 3 {
		stores = append(stores, openStore(t, srv, fmt.Sprintf("instance-%d", i), longLockTTL))
	}
	start := make(chan struct{})
	results := make(chan getResult, len(stores))
	done := make(chan struct{}, len(stores))
	for i, s := range stores {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			ctx, cancel := context.WithTimeout(t.Context(), storeWait)
			defer cancel()
			data, err := s.Get(ctx, key)
			results <- getResult{who: fmt.Sprint(i), data: data, err: err, at: time.Now()}
		}()
	}
	t.Cleanup(func() {
		for range stores {
			<-done
		}
	})
	close(start)

	first := receive(t, results)
	if first.err != autocert.ErrCacheMiss {
		t.Fatalf("first Get to return (instance %s): got %q, %v; want autocert.ErrCacheMiss", first.who, first.data, first.err)
	}
	value := []byte("certificate made by instance " + first.who)
	var winner *storeInstance
	for i, s := range stores {
		if fmt.Sprint(i) == first.who {
			winner = s
		} else {
			waitingFor(t, s, key)
		}
	}
	select {
	case r := <-results:
		t.Fatalf("instance %s returned before the Put: %q, %v", r.who, r.data, r.err)
	default:
	}
	putAt := time.Now()
	if err := winner.Put(t.Context(), key, value); err != nil {
		t.Fatal(err)
	}
	for range len(stores) - 1 {
		r := receive(t, results)
		if r.err != nil || !bytes.Equal(r.data, value) {
			t.Errorf("instance %s: got %q, %v; want %q", r.who, r.data, r.err, value)
		}
		if r.at.Before(putAt) {
			t.Errorf("instance %s returned at %v, before the Put at %v", r.who, r.at, putAt)
		}
	}
}

// TestCertCacheReleaseHandsOver has the holder of a lock give up without
// a Put: the waiting instance takes the lock at once, not after the TTL,
// and the first one then reads what the second stored.
func TestCertCacheReleaseHandsOver(t *testing.T) {
	srv := natstest.Start(t)
	a := openStore(t, srv, "a", longLockTTL)
	b := openStore(t, srv, "b", longLockTTL)
	const key = "handover.example"
	if _, err := a.Get(t.Context(), key); err != autocert.ErrCacheMiss {
		t.Fatalf("a's Get: got %v, want autocert.ErrCacheMiss", err)
	}
	waiter := getAsync(t, b, "b", key, storeWait)
	waitingFor(t, b, key)
	a.Release(t.Context(), key)
	if r := receive(t, waiter); r.err != autocert.ErrCacheMiss {
		t.Fatalf("b after a released: got %q, %v; want autocert.ErrCacheMiss (b makes it)", r.data, r.err)
	}
	aAgain := getAsync(t, a, "a", key, storeWait)
	waitingFor(t, a, key)
	if err := b.Put(t.Context(), key, []byte("b's")); err != nil {
		t.Fatal(err)
	}
	if r := receive(t, aAgain); r.err != nil || string(r.data) != "b's" {
		t.Errorf("a after b's Put: got %q, %v; want %q", r.data, r.err, "b's")
	}
}

// TestCertCacheDeadHolderExpires has the holder of a lock vanish (its
// connection closed, never a Put nor a Release): the lock bucket's TTL
// ends the lock, which no watcher reports, and the waiter takes over once
// the TTL has run out.
func TestCertCacheDeadHolderExpires(t *testing.T) {
	const lockTTL = 2 * time.Second
	srv := natstest.Start(t)
	dead := openStore(t, srv, "dead", lockTTL)
	b := openStore(t, srv, "b", lockTTL)
	const key = "orphan.example"
	before := time.Now()
	if _, err := dead.Get(t.Context(), key); err != autocert.ErrCacheMiss {
		t.Fatalf("holder's Get: got %v, want autocert.ErrCacheMiss", err)
	}
	dead.conn.Close()
	r := receive(t, getAsync(t, b, "b", key, storeWait))
	if r.err != autocert.ErrCacheMiss {
		t.Fatalf("waiter: got %q, %v; want autocert.ErrCacheMiss (it takes over)", r.data, r.err)
	}
	// The lock was taken after before, and lives lockTTL.
	if waited := r.at.Sub(before); waited < lockTTL {
		t.Errorf("waiter took over after %v, before the lock's TTL of %v", waited, lockTTL)
	} else {
		t.Logf("waiter took over %v after the lock was taken (TTL %v)", waited.Round(time.Millisecond), lockTTL)
	}
	if !strings.Contains(b.log.String(), "expired without a result") {
		t.Errorf("the waiter did not log the expiry:\n%s", b.log)
	}
}

// TestCertCacheWaitEndsWithContext bounds a wait by the caller's context:
// the error says so, and is not a miss, which would make the caller order.
func TestCertCacheWaitEndsWithContext(t *testing.T) {
	srv := natstest.Start(t)
	a := openStore(t, srv, "a", longLockTTL)
	b := openStore(t, srv, "b", longLockTTL)
	const key = "slow.example"
	if _, err := a.Get(t.Context(), key); err != autocert.ErrCacheMiss {
		t.Fatalf("a's Get: got %v, want autocert.ErrCacheMiss", err)
	}
	const deadline = 300 * time.Millisecond
	start := time.Now()
	r := receive(t, getAsync(t, b, "b", key, deadline))
	if !errors.Is(r.err, context.DeadlineExceeded) {
		t.Errorf("b's Get: got %q, %v; want an error wrapping context.DeadlineExceeded", r.data, r.err)
	}
	if took := r.at.Sub(start); took > storeWait/2 {
		t.Errorf("b's Get returned after %v, with a deadline of %v", took, deadline)
	}
}

// TestNewCertCacheRefuses checks the settings NewCertCache needs.
func TestNewCertCacheRefuses(t *testing.T) {
	srv := natstest.Start(t)
	_, js := jetStreamFor(t, srv)
	cases := []struct {
		name string
		cfg  cluster.CertCacheConfig
		want string
	}{
		{"no bucket", cluster.CertCacheConfig{LockTTL: time.Minute}, "no bucket"},
		{"no lock TTL", cluster.CertCacheConfig{Bucket: "b"}, "lock TTL"},
		{"lock TTL below the server's minimum", cluster.CertCacheConfig{Bucket: "b", LockTTL: time.Millisecond}, "at least 100ms"},
		{"bucket name NATS refuses", cluster.CertCacheConfig{Bucket: "a.b", LockTTL: time.Minute}, "open bucket a.b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cluster.NewCertCache(t.Context(), js, tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
