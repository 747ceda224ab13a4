package upstream

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// Config is the part of a route that says where its requests go. It is
// inlined into each entry of the YAML routes list: either backends (with
// how to balance, check and reach them) or a built-in handler.
type Config struct {
	// Backend is one ws:// or wss:// URL template; {name} in its path is
	// replaced by the route parameter of that name. Plain HTTP requests on
	// the route go to the same URL over http:// or https://. A Unix socket
	// is written ws+unix:///run/app.sock:/path/{x}.
	Backend string `yaml:"backend"`
	// Backends are several such templates, balanced. Use Backend or
	// Backends, not both.
	Backends []string `yaml:"backends"`
	// Balance chooses among backends: least_conn (the default), round_robin,
	// random or hash.
	Balance string `yaml:"balance"`
	// HashKey is what hash balancing hashes: param:NAME, header:NAME,
	// cookie:NAME or client_ip. A request without it is balanced least_conn.
	HashKey string `yaml:"hash_key"`
	// Health, if set, checks every backend in the background.
	Health *HealthConfig `yaml:"health"`
	// TLS configures connections to wss:// backends.
	TLS *BackendTLSConfig `yaml:"tls"`

	// Handler names a built-in handler instead: echo, broadcast, tail or
	// demo.
	Handler string `yaml:"handler"`
	// Root is the directory tail serves files from (tail only).
	Root string `yaml:"root"`
	// Lines is how many of the last lines tail sends first; default 10, as
	// tail(1) (tail only).
	Lines *int `yaml:"lines"`
	// Broadcast tunes the rooms of a broadcast route (broadcast only).
	// Nil: every default.
	Broadcast *BroadcastConfig `yaml:"broadcast"`
}

// BroadcastConfig bounds a broadcast route's rooms (issue 12). A field
// left out takes its default.
type BroadcastConfig struct {
	// MemberQueue bounds the bytes of messages waiting to be written to
	// one member; a member whose queue stays full for the write timeout
	// is closed with 1008, and until then publishers wait for room in it.
	// Messages are shared, so a room holds about this much whatever its
	// size. An empty queue takes any message. Default 1MiB; 64KiB to
	// 64MiB.
	MemberQueue *conftypes.Size `yaml:"member_queue"`
	// EchoSelf sends members their own messages too. Default true.
	EchoSelf *bool `yaml:"echo_self"`
	// MaxRooms bounds the route's rooms; a handshake that would open one
	// more gets 503. Default 10000.
	MaxRooms *int `yaml:"max_rooms"`
	// MaxMembers bounds the members of one room; a handshake that would
	// be one more gets 503. Default 10000.
	MaxMembers *int `yaml:"max_members"`
}

// HealthConfig is a route's active health check.
type HealthConfig struct {
	// Path is requested on each backend's host: an HTTP GET that must
	// answer 2xx or 3xx, or a WebSocket handshake that must answer 101.
	Path string `yaml:"path"`
	// WebSocket checks with a WebSocket handshake instead of a GET.
	WebSocket bool `yaml:"websocket"`
	// Interval between checks. Default 5s.
	Interval conftypes.Duration `yaml:"interval"`
	// Timeout for one check. Default 2s; less than Interval.
	Timeout conftypes.Duration `yaml:"timeout"`
}

// BackendTLSConfig is how wsedge connects to wss:// backends.
type BackendTLSConfig struct {
	// CA is a PEM bundle: when set, backends' certificates must chain to
	// it (and only it); otherwise the system roots are used.
	CA string `yaml:"ca"`
	// ServerName overrides the name sent as SNI and verified.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any certificate. For tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Balance policies.
const (
	BalanceLeastConn  = "least_conn"
	BalanceRoundRobin = "round_robin"
	BalanceRandom     = "random"
	BalanceHash       = "hash"
)

// Defaults of the optional settings.
const (
	DefaultHealthInterval = 5 * time.Second
	DefaultHealthTimeout  = 2 * time.Second
	DefaultTailLines      = 10
	maxTailLines          = 100000

	// The broadcast block's (BroadcastConfig).
	DefaultBroadcastMemberQueue = 1 << 20
	DefaultBroadcastMaxRooms    = 10000
	DefaultBroadcastMaxMembers  = 10000
	minBroadcastMemberQueue     = 64 << 10
	maxBroadcastMemberQueue     = 64 << 20
)

// HandlerNames lists the built-in handler names, sorted.
func HandlerNames() []string {
	names := make([]string, 0, len(handlerFactories)+len(pageFactories))
	for n := range handlerFactories {
		names = append(names, n)
	}
	for n := range pageFactories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// templates returns the backend URL templates, by field path.
func (c *Config) templates() []struct{ field, url string } {
	var out []struct{ field, url string }
	if c.Backend != "" {
		out = append(out, struct{ field, url string }{"backend", c.Backend})
	}
	for i, b := range c.Backends {
		out = append(out, struct{ field, url string }{fmt.Sprintf("backends[%d]", i), b})
	}
	return out
}

func (c *Config) hasBackends() bool { return c.Backend != "" || len(c.Backends) > 0 }

// Validate checks the section on its own; routes checks it against the
// route's path (Params).
func (c *Config) Validate() error {
	switch {
	case !c.hasBackends() && c.Handler == "":
		return conftypes.Field("", errors.New("set one of backend, backends or handler"))
	case c.hasBackends() && c.Handler != "":
		return conftypes.Field("", errors.New("set backends or a handler, not both"))
	case c.Backend != "" && len(c.Backends) > 0:
		return conftypes.Field("backends", errors.New("set backend or backends, not both"))
	case c.hasBackends():
		return c.validateBackends()
	}
	return c.validateHandler()
}

func (c *Config) validateBackends() error {
	var errs []error
	secure := false
	for _, t := range c.templates() {
		tpl, err := ParseURLTemplate(t.url)
		if err != nil {
			errs = append(errs, conftypes.Field(t.field, err))
			continue
		}
		secure = secure || tpl.Secure()
	}
	if c.Backends != nil && len(c.Backends) == 0 {
		errs = append(errs, conftypes.Field("backends", errors.New("list at least one backend")))
	}
	switch c.Balance {
	case "", BalanceLeastConn, BalanceRoundRobin, BalanceRandom:
		if c.HashKey != "" {
			errs = append(errs, conftypes.Field("hash_key", errors.New("only used with balance: hash")))
		}
	case BalanceHash:
		if _, err := parseHashKey(c.HashKey); err != nil {
			errs = append(errs, conftypes.Field("hash_key", err))
		}
	default:
		errs = append(errs, conftypes.Field("balance", fmt.Errorf("unknown policy %q: want least_conn, round_robin, random or hash", c.Balance)))
	}
	if c.Health != nil {
		errs = append(errs, conftypes.Under("health", c.Health.validate()))
	}
	if c.TLS != nil {
		if !secure {
			errs = append(errs, conftypes.Field("tls", errors.New("no backend is wss://")))
		}
	}
	errs = append(errs, c.foreignHandlerSettings()...)
	return errors.Join(errs...)
}

// setting is a field and whether the configuration sets it.
type setting struct {
	field string
	set   bool
}

// misplaced reports each setting that is set where it has no effect.
func misplaced(why string, settings ...setting) []error {
	var errs []error
	for _, s := range settings {
		if s.set {
			errs = append(errs, conftypes.Field(s.field, errors.New(why)))
		}
	}
	return errs
}

func (c *Config) validateHandler() error {
	if handlerFactories[c.Handler] == nil && pageFactories[c.Handler] == nil {
		return conftypes.Field("handler", fmt.Errorf("unknown handler %q: want one of %s", c.Handler, strings.Join(HandlerNames(), ", ")))
	}
	errs := misplaced("only used with backends",
		setting{"balance", c.Balance != ""}, setting{"hash_key", c.HashKey != ""},
		setting{"health", c.Health != nil}, setting{"tls", c.TLS != nil})
	errs = append(errs, c.foreignHandlerSettings()...)
	switch c.Handler {
	case "tail":
		if c.Root == "" {
			errs = append(errs, conftypes.Field("root", errors.New("required: the directory whose files tail may serve")))
		}
		if c.Lines != nil && (*c.Lines < 0 || *c.Lines > maxTailLines) {
			errs = append(errs, conftypes.Field("lines", fmt.Errorf("want 0 to %d", maxTailLines)))
		}
	case "broadcast":
		if c.Broadcast != nil {
			errs = append(errs, conftypes.Under("broadcast", c.Broadcast.validate()))
		}
	}
	return errors.Join(errs...)
}

// foreignHandlerSettings reports the settings of the handlers other than
// c.Handler (of every handler, on a route to backends).
func (c *Config) foreignHandlerSettings() []error {
	var errs []error
	if c.Handler != "tail" {
		errs = append(errs, misplaced("only used with handler: tail", setting{"root", c.Root != ""}, setting{"lines", c.Lines != nil})...)
	}
	if c.Handler != "broadcast" {
		errs = append(errs, misplaced("only used with handler: broadcast", setting{"broadcast", c.Broadcast != nil})...)
	}
	return errs
}

func (b *BroadcastConfig) validate() error {
	var errs []error
	if b.MemberQueue != nil && (*b.MemberQueue < minBroadcastMemberQueue || *b.MemberQueue > maxBroadcastMemberQueue) {
		errs = append(errs, conftypes.Field("member_queue", fmt.Errorf("want %v to %v", conftypes.Size(minBroadcastMemberQueue), conftypes.Size(maxBroadcastMemberQueue))))
	}
	for _, bound := range []struct {
		field string
		value *int
	}{{"max_rooms", b.MaxRooms}, {"max_members", b.MaxMembers}} {
		if bound.value != nil && *bound.value < 1 {
			errs = append(errs, conftypes.Field(bound.field, errors.New("want at least 1")))
		}
	}
	return errors.Join(errs...)
}

// broadcastSettings are what a broadcast route runs with.
type broadcastSettings struct {
	memberQueue          int64
	echoSelf             bool
	maxRooms, maxMembers int
}

// settings are b's, with the defaults for what b leaves out (b may be
// nil).
func (b *BroadcastConfig) settings() broadcastSettings {
	s := broadcastSettings{DefaultBroadcastMemberQueue, true, DefaultBroadcastMaxRooms, DefaultBroadcastMaxMembers}
	if b == nil {
		return s
	}
	if b.MemberQueue != nil {
		s.memberQueue = int64(*b.MemberQueue)
	}
	if b.EchoSelf != nil {
		s.echoSelf = *b.EchoSelf
	}
	if b.MaxRooms != nil {
		s.maxRooms = *b.MaxRooms
	}
	if b.MaxMembers != nil {
		s.maxMembers = *b.MaxMembers
	}
	return s
}

func (h *HealthConfig) validate() error {
	var errs []error
	if !strings.HasPrefix(h.Path, "/") {
		errs = append(errs, conftypes.Field("path", errors.New("required: a path starting with /")))
	}
	interval, timeout := h.interval(), h.timeout()
	if h.Interval < 0 || h.Timeout < 0 {
		errs = append(errs, conftypes.Field("interval", errors.New("interval and timeout must not be negative")))
	} else if timeout >= interval {
		errs = append(errs, conftypes.Field("timeout", fmt.Errorf("%v must be shorter than the interval %v", timeout, interval)))
	}
	return errors.Join(errs...)
}

func (h *HealthConfig) interval() time.Duration {
	if h.Interval == 0 {
		return DefaultHealthInterval
	}
	return h.Interval.D()
}

func (h *HealthConfig) timeout() time.Duration {
	if h.Timeout == 0 {
		return DefaultHealthTimeout
	}
	return h.Timeout.D()
}

// Params lists, per field, the route parameters the section uses (URL
// placeholders and a param: hash key), so routes can check each is
// defined by the route's path.
func (c *Config) Params() map[string][]string {
	out := map[string][]string{}
	for _, t := range c.templates() {
		if tpl, err := ParseURLTemplate(t.url); err == nil && len(tpl.Params()) > 0 {
			out[t.field] = tpl.Params()
		}
	}
	if k, err := parseHashKey(c.HashKey); err == nil && k.kind == "param" {
		out["hash_key"] = []string{k.name}
	}
	return out
}

// ResolvePaths makes relative file names relative to dir, the
// configuration file's directory.
func (c *Config) ResolvePaths(dir string) {
	c.Root = conftypes.ResolvePath(dir, c.Root)
	if c.TLS != nil {
		c.TLS.CA = conftypes.ResolvePath(dir, c.TLS.CA)
	}
}
