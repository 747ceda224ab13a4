package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/acme/autocert"
)

// CertCacheConfig says where a CertCache keeps the ACME state.
type CertCacheConfig struct {
	// Bucket is the JetStream key-value bucket holding the ACME account
	// key and the certificates, each with its private key. Created if
	// absent (file storage, one value per key); an existing bucket is used
	// as it is, so an operator may create it with settings of their own.
	// Required.
	Bucket string
	// LockTTL is how long an order lock lives. The locks are kept in the
	// bucket Bucket+"_locks", whose bucket-wide TTL (the stream's max age)
	// is set to LockTTL: that expiry, not a per-message TTL, is what frees
	// the lock of an instance that died while ordering, so nats-server
	// older than 2.11 will do. It must outlast an order (autocert allows
	// one five minutes), or a second instance may order while the first
	// still does. At least 100ms (the server's minimum max age). Required.
	LockTTL time.Duration
	// Owner names this instance in the lock entries and in log lines.
	// Empty: the host name.
	Owner string
	// Replicas is how many copies clustered JetStream keeps of each
	// bucket the cache creates. 0 means 1.
	Replicas int
}

// lockBucketSuffix names the lock bucket after the data bucket.
const lockBucketSuffix = "_locks"

// minLockTTL is nats-server's smallest stream max age.
const minLockTTL = 100 * time.Millisecond

// expiryRecheck is how long a waiter waits again when a lock it saw past
// its TTL is still there: nats-server removes aged-out messages on a timer
// of its own (the file store checks at most every 250ms; a replicated
// stream removes them through its consensus), a little after the
// message's time is up, and a clock that runs ahead of the server's makes
// the waiter's deadline early. Doubled on each miss, up to
// maxExpiryRecheck.
const (
	expiryRecheck    = 250 * time.Millisecond
	maxExpiryRecheck = 4 * time.Second
)

// CertCache is an autocert.Cache kept in a JetStream key-value bucket, so
// that the wsedge instances of a cluster share one ACME account and one
// certificate per name (issue 12), and an order lock so that one of them
// orders each while the others wait for its result.
//
// The bucket holds private keys in the clear, as autocert stores them: the
// account key and each certificate's key. Anyone who can read the bucket
// can impersonate the served names, so in production NATS needs
// authentication and TLS, and the bucket (its stream, $KV.<bucket>.>)
// must be readable by the wsedge instances only.
//
// # Keys
//
// autocert's keys ("acme_account+key", "example.com", "example.com+rsa",
// "<token>+http-01", "example.com+token") hold characters a key-value key
// may not: see kvKey for the encoding. "example.com" is stored under
// "example.com", "acme_account+key" under "acme_account=2Bkey".
//
// # The order lock
//
// A Get that finds nothing takes the lock of its key (a key-value Create,
// which succeeds for one instance only) and returns autocert.ErrCacheMiss,
// so that autocert orders the certificate (or makes the account key) and
// Puts it, which releases the lock. A Get that finds the lock taken by
// another instance waits, watching both the value and the lock, until the
// value appears (and returns it) or the lock goes (then it tries to take
// it). A holder that fails without a Put should Release the lock; one that
// dies frees it when the lock bucket's TTL removes it. Within one process
// autocert serializes the requests for a name itself, so a Get for a key
// whose lock this instance holds returns ErrCacheMiss at once.
//
// Challenge state (the HTTP-01 tokens, "+http-01", and the TLS-ALPN-01
// certificates, "+token") and autocert's legacy account key name
// ("acme_account.key") are read without the lock: the instance that orders
// writes them, and whichever instance the CA reaches answers from the
// bucket, so the CA may validate against any instance.
//
// Renewals are not coordinated: autocert renews on a timer of its own in
// each instance, which reads the bucket first and adopts a certificate
// another instance has already renewed, but two instances whose timers
// fire together may each renew (autocert spreads its timers over an hour
// at random). Coordinating them is a possible improvement.
//
// A CertCache is safe for concurrent use. Make one with NewCertCache.
type CertCache struct {
	data    jetstream.KeyValue
	locks   jetstream.KeyValue
	owner   string
	lockTTL time.Duration
	log     *slog.Logger

	mu   sync.Mutex
	held map[string]heldLock // autocert key -> the lock this instance took
}

// heldLock is a lock this instance took: the revision to delete, and when,
// since the lock bucket's TTL ends it whether or not it is released.
type heldLock struct {
	revision uint64
	taken    time.Time
}

var _ autocert.Cache = (*CertCache)(nil)

// NewCertCache opens (creating them if absent) the bucket cfg.Bucket and
// its lock bucket cfg.Bucket+"_locks" on js. The lock bucket's TTL is set
// to cfg.LockTTL even if it exists: it holds nothing but locks. log may be
// nil (nothing is logged).
func NewCertCache(ctx context.Context, js jetstream.JetStream, cfg CertCacheConfig, log *slog.Logger) (*CertCache, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("cluster: acme store: no bucket name")
	}
	if cfg.LockTTL < minLockTTL {
		return nil, fmt.Errorf("cluster: acme store: lock TTL %v: want at least %v", cfg.LockTTL, minLockTTL)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	owner := cfg.Owner
	if owner == "" {
		owner, _ = os.Hostname()
	}
	data, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "wsedge ACME account key and certificates, private keys included",
		Replicas:    cfg.Replicas,
		Storage:     jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		data, err = js.KeyValue(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: acme store: open bucket %s: %w", cfg.Bucket, err)
	}
	lockBucket := cfg.Bucket + lockBucketSuffix
	locks, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      lockBucket,
		Description: "wsedge ACME order locks of bucket " + cfg.Bucket,
		TTL:         cfg.LockTTL,
		Replicas:    cfg.Replicas,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: acme store: open lock bucket %s: %w", lockBucket, err)
	}
	return &CertCache{
		data:    data,
		locks:   locks,
		owner:   owner,
		lockTTL: cfg.LockTTL,
		log:     log,
		held:    map[string]heldLock{},
	}, nil
}

// Get returns the value stored for key. If there is none, it takes part in
// the order lock (see CertCache): it returns autocert.ErrCacheMiss when
// this instance is to make the value, or waits, bounded by ctx, for the
// instance that makes it.
func (c *CertCache) Get(ctx context.Context, key string) ([]byte, error) {
	k, err := kvKey(key)
	if err != nil {
		return nil, err
	}
	data, err := c.read(ctx, key, k)
	// autocert compares with ==: ErrCacheMiss must not be wrapped.
	if err != autocert.ErrCacheMiss || !coordinated(key) {
		return data, err
	}
	if c.holds(key) {
		return nil, autocert.ErrCacheMiss
	}
	taken, err := c.tryLock(ctx, key, k)
	if err != nil {
		return nil, err
	}
	if taken {
		return c.afterLock(ctx, key, k)
	}
	return c.await(ctx, key, k)
}

// Peek returns the value stored for key, or autocert.ErrCacheMiss,
// without taking part in the order lock: for readers that do not order,
// such as the certificate-expiry metric.
func (c *CertCache) Peek(ctx context.Context, key string) ([]byte, error) {
	k, err := kvKey(key)
	if err != nil {
		return nil, err
	}
	return c.read(ctx, key, k)
}

// Put stores data under key, then releases the lock of key if this
// instance holds it, whether or not the value could be stored: the holder
// is done, and if the value is missing another instance orders it.
func (c *CertCache) Put(ctx context.Context, key string, data []byte) error {
	k, err := kvKey(key)
	if err != nil {
		return err
	}
	_, err = c.data.Put(ctx, k, data)
	if coordinated(key) {
		c.release(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("cluster: acme store: put %s: %w", key, err)
	}
	return nil
}

// Delete removes the value stored for key.
func (c *CertCache) Delete(ctx context.Context, key string) error {
	k, err := kvKey(key)
	if err != nil {
		return err
	}
	if err := c.data.Delete(ctx, k); err != nil {
		return fmt.Errorf("cluster: acme store: delete %s: %w", key, err)
	}
	return nil
}

// Release drops the lock of key if this instance holds it, so that an
// instance waiting for key takes over at once instead of after the lock's
// TTL: for a holder whose order failed, which never Puts. Releasing a lock
// this instance does not hold does nothing. Failures are logged: the TTL
// ends the lock anyway.
func (c *CertCache) Release(ctx context.Context, key string) {
	if c.release(ctx, key) {
		c.log.Info("cluster: released the ACME lock without a result, for another instance to try", "key", key)
	}
}

// release drops the lock of key if this instance holds it, and reports
// whether it did.
func (c *CertCache) release(ctx context.Context, key string) bool {
	c.mu.Lock()
	h, ok := c.held[key]
	delete(c.held, key)
	c.mu.Unlock()
	if !ok {
		return false
	}
	k, err := kvKey(key)
	if err != nil {
		return false // held locks have valid keys
	}
	// Only the revision this instance wrote: once the TTL has ended it,
	// the lock may be another instance's.
	err = c.locks.Delete(ctx, k, jetstream.LastRevision(h.revision))
	switch {
	case err == nil:
		return true
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		c.log.Warn("cluster: held the ACME lock past its TTL, so another instance may have ordered too; raise the lock TTL",
			"key", key, "held_for", time.Since(h.taken).Round(time.Millisecond), "lock_ttl", c.lockTTL)
	default:
		c.log.Warn("cluster: could not release the ACME lock; it expires after the lock TTL", "key", key, "lock_ttl", c.lockTTL, "err", err)
	}
	return false
}

// read returns the value stored for key (kv, encoded), or
// autocert.ErrCacheMiss.
func (c *CertCache) read(ctx context.Context, key, kv string) ([]byte, error) {
	e, err := c.data.Get(ctx, kv)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, autocert.ErrCacheMiss
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: acme store: get %s: %w", key, err)
	}
	return e.Value(), nil
}

// holds reports whether this instance holds the lock of key and the lock
// bucket's TTL has not yet ended it.
func (c *CertCache) holds(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.held[key]
	if ok && time.Since(h.taken) >= c.lockTTL {
		delete(c.held, key)
		return false
	}
	return ok
}

// tryLock takes the lock of key (kv, encoded) if nobody holds it.
func (c *CertCache) tryLock(ctx context.Context, key, kv string) (bool, error) {
	value := c.owner + " " + time.Now().UTC().Format(time.RFC3339Nano)
	rev, err := c.locks.Create(ctx, kv, []byte(value))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cluster: acme store: lock %s: %w", key, err)
	}
	c.mu.Lock()
	c.held[key] = heldLock{revision: rev, taken: time.Now()}
	c.mu.Unlock()
	return true, nil
}

// afterLock reads key again once its lock is taken: another instance may
// have stored the value and released the lock just before. It returns the
// value (and releases the lock), or ErrCacheMiss for this instance to make
// the value.
func (c *CertCache) afterLock(ctx context.Context, key, kv string) ([]byte, error) {
	data, err := c.read(ctx, key, kv)
	if err != autocert.ErrCacheMiss {
		c.release(ctx, key)
		return data, err
	}
	c.log.Info("cluster: took the ACME lock; this instance makes it", "key", key)
	return nil, autocert.ErrCacheMiss
}

// await waits, bounded by ctx, for the value of key, whose lock another
// instance holds: it returns the value once stored, or, if the lock goes
// first (released, or removed by the lock bucket's TTL), what Get returns
// after taking the lock itself.
//
// A watcher reports a released lock (a delete marker) but not one the
// bucket's TTL removed: nats-server before 2.11 writes no marker for it
// (and 2.11+ only for buckets with limit markers, which wsedge does not
// rely on). So for each lock seen, a timer fires when its TTL has run out,
// counted from the lock entry's creation (or from when it was first seen,
// if that is sooner by this instance's clock), and the waiter tries to
// take the lock then.
func (c *CertCache) await(ctx context.Context, key, kv string) ([]byte, error) {
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	values, err := c.data.Watch(watchCtx, kv, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("cluster: acme store: watch %s: %w", key, err)
	}
	defer values.Stop()
	locks, err := c.locks.Watch(watchCtx, kv)
	if err != nil {
		return nil, fmt.Errorf("cluster: acme store: watch the lock of %s: %w", key, err)
	}
	defer locks.Stop()

	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	defer expiry.Stop()
	var (
		lockRev uint64 // the live lock's revision; 0 while none is known
		holder  string // the live lock's value, for the log
		recheck time.Duration
	)
	// takeOver tries to take the lock; done reports that await is over.
	takeOver := func() (data []byte, done bool, err error) {
		taken, err := c.tryLock(ctx, key, kv)
		if err != nil || !taken {
			return nil, err != nil, err
		}
		data, err = c.afterLock(ctx, key, kv)
		return data, true, err
	}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: acme store: wait for %s (lock %q): %w", key, holder, ctx.Err())

		case e, ok := <-values.Updates():
			if !ok {
				return nil, fmt.Errorf("cluster: acme store: wait for %s: watch closed", key)
			}
			if e != nil && e.Operation() == jetstream.KeyValuePut {
				c.log.Info("cluster: read what another instance stored", "key", key, "from", holder)
				return e.Value(), nil
			}

		case e, ok := <-locks.Updates():
			if !ok {
				return nil, fmt.Errorf("cluster: acme store: wait for %s: lock watch closed", key)
			}
			switch {
			case e == nil: // the initial state is delivered
				if lockRev != 0 {
					continue
				}
			case e.Operation() == jetstream.KeyValuePut:
				if e.Revision() != lockRev {
					lockRev, holder, recheck = e.Revision(), string(e.Value()), 0
					seen := time.Now()
					deadline := e.Created().Add(c.lockTTL)
					if byClock := seen.Add(c.lockTTL); byClock.Before(deadline) {
						deadline = byClock
					}
					expiry.Reset(time.Until(deadline))
					c.log.Info("cluster: waiting for another instance to store it", "key", key, "lock", holder)
				}
				continue
			default: // deleted or purged: released
				lockRev = 0
				expiry.Stop()
			}
			if data, done, err := takeOver(); done {
				return data, err
			}

		case <-expiry.C:
			if data, done, err := takeOver(); done {
				if err == autocert.ErrCacheMiss {
					c.log.Warn("cluster: the ACME lock expired without a result; this instance takes over", "key", key, "lock", holder)
				}
				return data, err
			}
			// Still there: the server has not removed it yet, or another
			// instance took it, which the watcher is about to report.
			recheck = min(max(2*recheck, expiryRecheck), maxExpiryRecheck)
			expiry.Reset(recheck)
		}
	}
}

// coordinated reports whether key takes part in the order lock: the
// account key and the certificates do; challenge state and the legacy
// account key name, read once if the new one is missing, do not (see
// CertCache).
func coordinated(key string) bool {
	return !strings.HasSuffix(key, "+http-01") && !strings.HasSuffix(key, "+token") && key != "acme_account.key"
}

// kvKey encodes an autocert key as a key-value key. Those are NATS subject
// tokens joined by '.', of the characters [-/_=.a-zA-Z0-9], while
// autocert's keys hold '+' and could hold anything a host name or token
// does. Letters, digits, '-' and '_' stand for themselves, and so does a
// '.' between two other characters, so host names read as they are
// ("example.com", "example.com=2Brsa"); every other byte ('=', '+', '*',
// '/', a leading, trailing or repeated '.', non-ASCII) becomes '=' and
// two upper-case hex digits. '=' only ever starts an escape, so the
// encoding is injective: two keys never share a value or a lock.
func kvKey(key string) (string, error) {
	if key == "" {
		return "", errors.New("cluster: acme store: empty key")
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(key))
	for i := 0; i < len(key); i++ {
		ch := key[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '-', ch == '_':
			b.WriteByte(ch)
		case ch == '.' && b.Len() > 0 && !strings.HasSuffix(b.String(), ".") && i < len(key)-1:
			b.WriteByte(ch)
		default:
			b.WriteByte('=')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&0x0f])
		}
	}
	return b.String(), nil
}
