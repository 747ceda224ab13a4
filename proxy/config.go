package proxy

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wsedge/wsedge/internal/conftypes"
	"github.com/wsedge/wsedge/internal/forwardauth"
	"github.com/wsedge/wsedge/internal/netset"
	"github.com/wsedge/wsedge/routes"
)

// ListenConfig is the listen section.
type ListenConfig struct {
	// HTTPS is the TLS listener's address for wss:// and https://. Empty
	// (the default): no TLS listener.
	HTTPS string `yaml:"https"`
	// HTTP is the plain listener's address for ws:// and http://. Empty
	// (the default): no plaintext listener; only what is named is opened
	// (issue 10). ACME's HTTP-01 challenges need it; without it ACME
	// validates with TLS-ALPN-01 on the https listener.
	HTTP string `yaml:"http"`
	// RedirectToHTTPS makes the plain listener redirect requests to the
	// https listener (308), except on routes marked plain: true and ACME
	// HTTP-01 challenges, which it answers. Unset (the default): on when
	// certificates come from ACME, off otherwise.
	RedirectToHTTPS *bool `yaml:"redirect_to_https"`
	// ProxyProtocol makes both listeners read a PROXY protocol header (v1
	// or v2) from peers in trusted_proxies, which must then send one: for
	// running behind HAProxy in TCP mode (send-proxy-v2) or a cloud L4
	// balancer. Default false.
	ProxyProtocol bool `yaml:"proxy_protocol"`
	// HTTP2 offers h2 in ALPN on the https listener, where browsers then
	// open WebSockets as streams of one connection (RFC 8441 extended
	// CONNECT, advertised with SETTINGS_ENABLE_CONNECT_PROTOCOL) and
	// plain requests on backend routes go over HTTP/2 too. Unset (the
	// default): on. false: HTTP/1.1 only. A reload cannot change it.
	HTTP2 *bool `yaml:"http2"`
}

// http2 is HTTP2 with its default.
func (l *ListenConfig) http2() bool { return l.HTTP2 == nil || *l.HTTP2 }

// KeepaliveConfig is the keepalive section. Each leg of a proxied
// connection, and each built-in handler connection, is pinged on its own.
type KeepaliveConfig struct {
	// PingInterval is how often each leg is pinged. Default 30s; 0 disables
	// pings, and then a peer that vanishes without a FIN is never noticed.
	PingInterval conftypes.Duration `yaml:"ping_interval"`
	// PongTimeout is how long a leg may stay silent after a ping before it
	// is declared dead and both legs are closed. Default 10s. Any frame
	// counts as an answer, not only the pong.
	PongTimeout conftypes.Duration `yaml:"pong_timeout"`
}

// LimitsConfig is the limits section.
type LimitsConfig struct {
	// MaxMessageBytes is the largest message accepted from either leg.
	// Default 1MiB; 0 means unlimited. A bigger message closes its sender
	// with 1009 and the other leg as described in the README. It counts
	// payload bytes as on the wire: a message compressed with
	// permessage-deflate (routes' compression) counts compressed, on
	// proxied routes and built-ins alike.
	MaxMessageBytes conftypes.Size `yaml:"max_message_bytes"`
	// HandshakeTimeout bounds reading a client's request headers (and its
	// TLS handshake), and the backend dial plus upgrade. Default 10s; must
	// be positive.
	HandshakeTimeout conftypes.Duration `yaml:"handshake_timeout"`
	// DialTimeout bounds one connect to one backend; a backend that does
	// not accept within it is marked down and the next one is tried, all
	// within HandshakeTimeout. Default 3s; at most handshake_timeout.
	DialTimeout conftypes.Duration `yaml:"dial_timeout"`
	// WriteTimeout is how long a peer may take to accept a frame before it
	// is closed; it also bounds the closing handshake. Default 10s; 0
	// disables it.
	WriteTimeout conftypes.Duration `yaml:"write_timeout"`
	// MaxHeaderBytes bounds a request's header block (nginx's
	// large_client_header_buffers); a bigger one gets 431. Default 64KiB.
	MaxHeaderBytes conftypes.Size `yaml:"max_header_bytes"`

	// MaxConnections bounds the upgraded connections open at once; a
	// handshake over it gets 503 with Retry-After. Default 0: derived
	// from the process's open-file limit at start, (RLIMIT_NOFILE - 100)
	// / 2 (a proxied connection holds two descriptors), so the process
	// refuses cleanly before accept fails for want of descriptors.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerIP bounds one client address's upgraded
	// connections on all routes (IPv6 clients by their /64): 503 with
	// Retry-After over it. Default 0: no bound. A route's limits may add
	// a bound of its own.
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
	// HandshakeRate is the WebSocket handshakes a second one client
	// address (IPv6: its /64) may start, with HandshakeBurst of them at
	// once; over it: 429 with Retry-After. Default 0: no bound.
	HandshakeRate float64 `yaml:"handshake_rate"`
	// HandshakeBurst is the burst HandshakeRate allows. Default 0: the
	// rate rounded up (one second's worth), at least 1.
	HandshakeBurst int `yaml:"handshake_burst"`
	// HandshakeRateTable bounds the client addresses whose handshake rate
	// is remembered; when it is full the least recently seen is
	// forgotten. Default 65536 (about 10 MiB at most).
	HandshakeRateTable int `yaml:"handshake_rate_table"`
	// MaxBackendDials bounds the WebSocket dials (connect and upgrade) in
	// progress to any one backend; a handshake that cannot get a dial
	// slot within dial_timeout gets 503 with Retry-After. Default 0: no
	// bound.
	MaxBackendDials int `yaml:"max_backend_dials"`
	// ClientMessageRate bounds the messages and bytes a second each
	// client may send (see conftypes.MessageRate). Default: no bound. A
	// route's limits may set its own.
	ClientMessageRate conftypes.MessageRate `yaml:"client_message_rate"`
}

// RelayConfig is the relay section: how frames are forwarded between a
// client and its backend.
type RelayConfig struct {
	// Remask gives every frame a client sends a fresh masking key on its
	// way to the backend (the payload is re-XORed in one pass). Default
	// false: client frames are forwarded with the client's own key, as
	// byte tunnels such as nginx and HAProxy forward them; see the README
	// on why that keeps RFC 6455 section 10.3's protection.
	Remask bool `yaml:"remask"`

	// portable relays on goroutines instead of epoll even on Linux (what
	// other systems get); tests set it to run the relay both ways.
	portable bool
}

// ShutdownConfig is the shutdown section.
type ShutdownConfig struct {
	// DrainTimeout is how long, after SIGINT or SIGTERM, live connections
	// get to finish their closing handshakes before they are dropped.
	// Default 30s.
	DrainTimeout conftypes.Duration `yaml:"drain_timeout"`
	// CloseSpread is the window over which the connections a reload
	// orphans (their route, or their backend, was removed) are closed
	// with 1012, one after the other in random order, so that thousands
	// of clients do not reconnect in the same second (HAProxy's
	// close-spread-time). Default 30s; 0 closes them at once.
	CloseSpread conftypes.Duration `yaml:"close_spread"`
}

// ReloadConfig is the reload section: what a configuration reload (SIGHUP)
// does to live connections.
type ReloadConfig struct {
	// CloseRemoved closes, with 1012 over shutdown.close_spread, the
	// connections whose route a reload removed or whose backend it took
	// out of the route's pool. Default true; false keeps them open until
	// they end on their own, on the route and backend they were opened
	// with.
	CloseRemoved *bool `yaml:"close_removed"`
}

// closeRemoved is CloseRemoved with its default.
func (r *ReloadConfig) closeRemoved() bool { return r.CloseRemoved == nil || *r.CloseRemoved }

// Config is the proxy's part of the configuration file: every top-level
// section but tls.
type Config struct {
	Listen    ListenConfig    `yaml:"listen"`
	Keepalive KeepaliveConfig `yaml:"keepalive"`
	Limits    LimitsConfig    `yaml:"limits"`
	Relay     RelayConfig     `yaml:"relay"`
	Shutdown  ShutdownConfig  `yaml:"shutdown"`
	Reload    ReloadConfig    `yaml:"reload"`
	// Origins is the Origin policy of routes that set none (see
	// routes.Route.Origins). Unset: same-host for built-in handlers, any
	// for backends.
	Origins []string `yaml:"origins"`
	// Allow and Deny are the client networks admitted and refused (403)
	// on routes that set none, and on requests no route matches (see
	// routes.Route.Allow). Default: none, every client is admitted.
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
	// TrustedProxies are the peers (CIDRs or addresses) whose
	// X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Real-IP
	// and Forwarded headers are believed, and whose PROXY protocol
	// headers are read (listen.proxy_protocol). The client address that
	// logs, limits, hashing and allow/deny use is then the one they
	// report; from any other peer those headers are removed. Default:
	// none.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Auth is the forward authentication of routes that set none (see
	// internal/forwardauth): every request, WebSocket or plain, is first
	// asked of an auth server. Default: none.
	Auth   *forwardauth.Config `yaml:"auth"`
	Routes routes.Config       `yaml:"routes"`
}

// DefaultConfig returns the configuration a file starts from: a YAML file
// overrides only the keys it sets.
func DefaultConfig() Config {
	return Config{
		Keepalive: KeepaliveConfig{
			PingInterval: conftypes.Duration(30 * time.Second),
			PongTimeout:  conftypes.Duration(10 * time.Second),
		},
		Limits: LimitsConfig{
			MaxMessageBytes:    1 << 20,
			HandshakeTimeout:   conftypes.Duration(10 * time.Second),
			DialTimeout:        conftypes.Duration(3 * time.Second),
			WriteTimeout:       conftypes.Duration(10 * time.Second),
			MaxHeaderBytes:     64 << 10,
			HandshakeRateTable: 1 << 16,
		},
		Shutdown: ShutdownConfig{
			DrainTimeout: conftypes.Duration(30 * time.Second),
			CloseSpread:  conftypes.Duration(30 * time.Second),
		},
	}
}

// Validate checks every section and returns all problems at once.
func (c *Config) Validate() error {
	errs := []error{c.Listen.validate(c.TrustedProxies), c.Keepalive.validate(), c.Limits.validate()}
	if c.Shutdown.DrainTimeout < 0 {
		errs = append(errs, conftypes.Field("shutdown.drain_timeout", errors.New("must not be negative")))
	}
	if c.Shutdown.CloseSpread < 0 {
		errs = append(errs, conftypes.Field("shutdown.close_spread", errors.New("must not be negative")))
	}
	if len(c.Routes) == 0 {
		errs = append(errs, conftypes.Field("routes", errors.New("at least one route is required")))
	}
	errs = append(errs, routes.CheckOrigins("origins", c.Origins))
	errs = append(errs, routes.CheckNetworks(c.Allow, c.Deny))
	if c.Auth != nil {
		errs = append(errs, conftypes.Under("auth", c.Auth.Validate()))
	}
	if _, err := netset.Parse("trusted_proxies", c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, conftypes.Under("routes", c.Routes.Validate()))
	return errors.Join(errs...)
}

func (l *ListenConfig) validate(trusted []string) error {
	var errs []error
	if l.HTTP == "" && l.HTTPS == "" {
		errs = append(errs, conftypes.Field("listen", errors.New("set http, https or both")))
	}
	for _, a := range []struct{ field, addr string }{{"listen.http", l.HTTP}, {"listen.https", l.HTTPS}} {
		field, addr := a.field, a.addr
		if addr == "" {
			continue
		}
		if err := checkListenAddr(addr); err != nil {
			errs = append(errs, conftypes.Field(field, err))
		}
	}
	if l.HTTP != "" && l.HTTP == l.HTTPS && !strings.HasSuffix(l.HTTP, ":0") {
		errs = append(errs, conftypes.Field("listen.https", fmt.Errorf("same address as listen.http (%s)", l.HTTP)))
	}
	if l.ProxyProtocol && len(trusted) == 0 {
		errs = append(errs, conftypes.Field("listen.proxy_protocol", errors.New("needs trusted_proxies: only the proxies named there may send a PROXY header")))
	}
	if l.RedirectToHTTPS != nil && *l.RedirectToHTTPS && (l.HTTP == "" || l.HTTPS == "") {
		errs = append(errs, conftypes.Field("listen.redirect_to_https", errors.New("needs both listen.http and listen.https")))
	}
	return errors.Join(errs...)
}

// listenHostRE is a host name a listener may be given (it is resolved
// when the listener is opened).
var listenHostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// checkListenAddr checks a listener address at validate time, so that a
// typo is an error with its line, not a failure at start: host:port or
// :port, the port a number from 0 to 65535, the host an IP address or a
// host name.
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not an address: want host:port or :port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number from 0 to 65535", addr)
	}
	if host != "" && net.ParseIP(host) == nil && !listenHostRE.MatchString(host) {
		return fmt.Errorf("%q: %q is not an IP address or a host name", addr, host)
	}
	return nil
}

func (k *KeepaliveConfig) validate() error {
	switch {
	case k.PingInterval < 0:
		return conftypes.Field("keepalive.ping_interval", errors.New("must not be negative"))
	case k.PingInterval > 0 && k.PongTimeout <= 0:
		return conftypes.Field("keepalive.pong_timeout", errors.New("must be positive while ping_interval is set"))
	}
	return nil
}

func (l *LimitsConfig) validate() error {
	var errs []error
	if l.MaxMessageBytes < 0 {
		errs = append(errs, conftypes.Field("limits.max_message_bytes", errors.New("must not be negative")))
	}
	if l.HandshakeTimeout <= 0 {
		errs = append(errs, conftypes.Field("limits.handshake_timeout", errors.New("must be positive: it is what stops slow clients holding connections open")))
	}
	if l.DialTimeout <= 0 || l.DialTimeout > l.HandshakeTimeout {
		errs = append(errs, conftypes.Field("limits.dial_timeout", fmt.Errorf("want more than 0 and at most handshake_timeout (%v)", l.HandshakeTimeout)))
	}
	if l.WriteTimeout < 0 {
		errs = append(errs, conftypes.Field("limits.write_timeout", errors.New("must not be negative")))
	}
	if l.MaxHeaderBytes < 1<<10 || l.MaxHeaderBytes > 1<<20 {
		errs = append(errs, conftypes.Field("limits.max_header_bytes", errors.New("want 1KiB to 1MiB")))
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"max_connections", float64(l.MaxConnections)},
		{"max_connections_per_ip", float64(l.MaxConnectionsPerIP)},
		{"handshake_rate", l.HandshakeRate},
		{"handshake_burst", float64(l.HandshakeBurst)},
		{"max_backend_dials", float64(l.MaxBackendDials)},
	} {
		if f.v < 0 {
			errs = append(errs, conftypes.Field("limits."+f.name, errors.New("must not be negative")))
		}
	}
	if l.HandshakeRateTable < 1 {
		errs = append(errs, conftypes.Field("limits.handshake_rate_table", errors.New("must be at least 1")))
	}
	errs = append(errs, conftypes.Under("limits.client_message_rate", l.ClientMessageRate.Validate()))
	return errors.Join(errs...)
}
