package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Node is this instance's membership of the cluster: its connection to
// NATS and what travels on it. Open makes one; Close ends it.
type Node struct {
	log      *slog.Logger
	cfg      Config
	instance string
	// origin tags every message this instance publishes; its own copies
	// are never delivered back to it (NoEcho, and the tag checked).
	origin uint64
	conn   *nats.Conn
	// closed is closed once conn is closed (NATS's closed callback): its
	// rooms' subscriptions, and their delivering goroutines, are done.
	closed chan struct{}
	// store is the ACME store's connection (OpenCertCache): JetStream's
	// requests need answers, so it needs NATS at start and buffers
	// across a reconnect, unlike the rooms' connection. Nil without
	// ACME.
	store *nats.Conn
	stats stats

	mu    sync.Mutex // guards links and droppedBySlowLinks
	links map[*link]struct{}
	// droppedBySlowLinks counts what links that have left dropped as
	// slow consumers (see linkStats).
	droppedBySlowLinks int64
	// outageDrops counts publishes dropped since the connection was
	// last up, for the reconnect log line.
	outageDrops atomic.Int64
}

// Open connects to the cluster's NATS servers. It returns at once even if
// none is reachable: the instance then serves its own members, drops and
// counts what it would publish, and keeps trying (every ReconnectWait),
// subscribing to its rooms when a server answers. An error is a file
// that cannot be used (see Check), as conftypes.FieldErrors.
func Open(cfg Config, log *slog.Logger) (*Node, error) {
	if err := Check(cfg); err != nil {
		return nil, err
	}
	n := &Node{log: log, cfg: cfg, instance: instanceName(cfg), origin: randomOrigin(), links: map[*link]struct{}{},
		closed: make(chan struct{})}
	opts := []nats.Option{
		nats.Name(n.instance),
		// Rooms are at-most-once: a message that cannot be sent now is
		// dropped and counted, not buffered through an outage.
		nats.ReconnectBufSize(-1),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(cfg.reconnectWait()),
		nats.RetryOnFailedConnect(true),
		// The instance delivers its own members' messages itself.
		nats.NoEcho(),
		nats.ConnectHandler(func(c *nats.Conn) {
			n.log.Info("cluster: connected to NATS", "server", c.ConnectedUrlRedacted())
		}),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if c.IsClosed() {
				return // Close: the instance is stopping
			}
			n.log.Warn("cluster: lost NATS; delivering to local members only, dropping cross-instance messages until it is back", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.stats.reconnects.Add(1)
			n.log.Info("cluster: reconnected to NATS; rooms subscribed again", "server", c.ConnectedUrlRedacted(),
				"dropped_while_down", n.outageDrops.Swap(0))
		}),
		nats.ErrorHandler(n.asyncError),
		nats.DrainTimeout(drainTimeout),
		nats.ClosedHandler(func(*nats.Conn) { close(n.closed) }),
	}
	conn, err := nats.Connect(strings.Join(cfg.NATS, ","), append(opts, n.authOptions()...)...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to NATS: %w", err)
	}
	n.conn = conn
	if !conn.IsConnected() {
		n.log.Warn("cluster: no NATS server reachable yet; serving local members, retrying", "servers", strings.Join(cfg.NATS, ","))
	}
	return n, nil
}

// drainTimeout bounds Close's wait for the rooms' subscriptions to
// finish what they were delivering.
const drainTimeout = 5 * time.Second

// Close leaves the cluster: the rooms' subscriptions end (NATS drains
// them: each delivering goroutine finishes the messages it holds, to
// rooms whose members have gone with the proxy's drain) and Close waits
// for them, then the connections close.
func (n *Node) Close() {
	if err := n.conn.Drain(); err != nil {
		n.conn.Close() // not connected: nothing to drain
	}
	select {
	case <-n.closed:
	case <-time.After(drainTimeout + time.Second):
		n.log.Warn("cluster: the NATS connection did not close after draining", "waited", drainTimeout+time.Second)
	}
	if n.store != nil {
		n.store.Close()
	}
}

// storeSetupTimeout bounds opening the ACME store's buckets at start.
const storeSetupTimeout = 30 * time.Second

// OpenCertCache opens the cluster's ACME store (cluster.acme), creating
// its buckets if they are missing, on a connection of its own. Unlike
// the rooms, it needs NATS now: without the store no certificate can be
// served, so an instance that cannot reach NATS at start does not
// start.
func (n *Node) OpenCertCache() (*CertCache, error) {
	conn, err := nats.Connect(strings.Join(n.cfg.NATS, ","), append(n.authOptions(),
		nats.Name(n.instance+" acme"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(n.cfg.reconnectWait()),
	)...)
	if err != nil {
		return nil, fmt.Errorf("cluster: acme store: connect to NATS: %w", err)
	}
	js, err := jetstream.New(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("cluster: acme store: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeSetupTimeout)
	defer cancel()
	c, err := NewCertCache(ctx, js, CertCacheConfig{Bucket: n.cfg.bucket(), LockTTL: n.cfg.lockTTL(), Owner: n.instance}, n.log)
	if err != nil {
		conn.Close()
		return nil, err
	}
	n.store = conn
	return c, nil
}

// authOptions are the credentials and TLS settings of every connection.
func (n *Node) authOptions() []nats.Option {
	var opts []nats.Option
	if n.cfg.Credentials != "" {
		opts = append(opts, nats.UserCredentials(n.cfg.Credentials))
	}
	if t := n.cfg.TLS; t != nil {
		if t.CA != "" {
			opts = append(opts, nats.RootCAs(t.CA))
		}
		if t.Cert != "" {
			opts = append(opts, nats.ClientCert(t.Cert, t.Key))
		}
	}
	return opts
}

// Instance is this instance's name in the cluster.
func (n *Node) Instance() string { return n.instance }

// asyncError logs what NATS reports outside a call: a room's
// subscription falling behind (its messages are dropped and counted), a
// permission refused.
func (n *Node) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if sub != nil {
		n.log.Warn("cluster: room subscription error", "subject", sub.Subject, "err", err)
		return
	}
	n.log.Warn("cluster: NATS error", "err", err)
}

// instanceName is the configured name, else host name and process ID.
func instanceName(cfg Config) string {
	if cfg.Instance != "" {
		return cfg.Instance
	}
	host, err := os.Hostname()
	if err != nil {
		host = "wsedge"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

func randomOrigin() uint64 {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return binary.BigEndian.Uint64(b[:])
}
