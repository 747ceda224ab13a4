// Command-line options of wsload: parsing, validation and the TLS settings
// they imply. Everything that can be wrong with the flags is found here,
// before any connection is opened, so that bad flags always exit with
// status 2 and never start a partial run.

package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// The three ways of loading a target.
const (
	modeEcho      = "echo"
	modeIdle      = "idle"
	modeHandshake = "handshake"
)

// options is the validated configuration of one run.
type options struct {
	url        string
	insecure   bool
	caFile     string
	serverName string
	curves     []tls.CurveID // key exchanges offered, in order; nil: Go's default

	connections int
	size        int
	rate        float64 // messages per second per connection; 0 = unthrottled
	window      int     // echo messages in flight per connection
	duration    time.Duration
	mode        string
	ramp        float64 // new connections per second while opening
	text        bool
	json        bool
	progress    time.Duration // 0 disables progress lines
	drain       time.Duration

	// localAddrs are the source addresses connections are bound to, in
	// turn; nil lets the kernel choose.
	localAddrs []net.IP
	// phaseFD is an inherited descriptor on which the start and end of
	// the measured phase are announced (see phase.go); 0 = none.
	phaseFD int
	// h2Conns, in handshake mode, is how many TLS connections the
	// WebSockets are opened on as HTTP/2 streams (RFC 8441, see
	// h2dial.go); 0 = HTTP/1.1, one TLS connection per WebSocket.
	h2Conns int

	// tls is the client TLS configuration for wss:// targets; nil for ws://.
	tls *tls.Config
}

// parseOptions parses and validates args. Every error has been explained
// on stderr by the time it returns; flag.ErrHelp means the user asked for
// the usage, which has been printed.
func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("wsload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printUsage(fs) }
	fs.StringVar(&o.url, "url", "", "target `URL`, ws:// or wss:// (required)")
	fs.BoolVar(&o.insecure, "insecure", false, "skip TLS certificate verification (wss:// only)")
	fs.StringVar(&o.caFile, "ca", "", "PEM `file` of CA certificates to trust instead of the system roots (wss:// only)")
	fs.StringVar(&o.serverName, "servername", "", "TLS server `name` (SNI and verification) instead of the URL's host (wss:// only)")
	fs.Func("curves", "TLS key exchanges to offer, comma-separated `list` of x25519mlkem768, x25519, p256 (default: Go's, which prefers x25519mlkem768)", func(v string) error {
		curves, err := parseCurves(v)
		o.curves = curves
		return err
	})
	fs.IntVar(&o.connections, "c", 10, "`number` of connections (handshake mode: concurrent workers)")
	fs.IntVar(&o.size, "size", 64, fmt.Sprintf("message size in `bytes` (minimum %d, or %d with -text)", minMessageSize(false), minMessageSize(true)))
	fs.Float64Var(&o.rate, "rate", 0, "messages per second per connection; 0 sends as fast as the window allows")
	fs.IntVar(&o.window, "window", 1, "echo messages in flight per connection (1 = strict request/response)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of the measured phase")
	fs.StringVar(&o.mode, "mode", modeEcho, "load `mode`: echo, idle or handshake")
	fs.Float64Var(&o.ramp, "ramp", 2000, "new connections per second while opening")
	fs.BoolVar(&o.text, "text", false, "send text messages (ASCII: hex-encoded header, letter filler) instead of binary")
	fs.BoolVar(&o.json, "json", false, "print the summary as one JSON object on stdout")
	fs.DurationVar(&o.progress, "progress", time.Second, "interval of progress lines on stderr; 0 disables them")
	fs.DurationVar(&o.drain, "drain", 2*time.Second, "after the measured phase, how long to wait for outstanding echoes before counting them lost")
	fs.Func("local-addrs", "comma-separated `IPs` of this machine (e.g. 127.0.0.2,127.0.0.3) to open connections from, in turn: more source addresses, more local ports for the same target", func(v string) error {
		addrs, err := parseLocalAddrs(v)
		o.localAddrs = addrs
		return err
	})
	fs.IntVar(&o.h2Conns, "h2-conns", 0, "handshake mode over wss:// only: open the WebSockets as HTTP/2 streams (RFC 8441 extended CONNECT) on this `number` of TLS connections, shared by the workers, instead of one TLS connection (and HTTP/1.1 upgrade) each; 0 = HTTP/1.1")
	fs.IntVar(&o.phaseFD, "phase-fd", 0, "inherited file `descriptor` (3 or more) on which to write a line \"start\" when the measured phase begins and \"end\" when it ends, for a tool that measures the target over exactly that phase; 0 = none")
	if err := fs.Parse(args); err != nil {
		return nil, err // the flag package has printed it, with the usage
	}
	if err := o.complete(fs.Args()); err != nil {
		fmt.Fprintf(stderr, "wsload: %v\n(wsload -h lists the flags)\n", err)
		return nil, err
	}
	return o, nil
}

// complete validates the parsed flags and derives the TLS configuration.
func (o *options) complete(extraArgs []string) error {
	if len(extraArgs) > 0 {
		return fmt.Errorf("unexpected arguments %q: every setting is a flag", extraArgs)
	}
	if err := o.validate(); err != nil {
		return err
	}
	tlsConf, err := o.tlsConfig()
	if err != nil {
		return err
	}
	o.tls = tlsConf
	return nil
}

func printUsage(fs *flag.FlagSet) {
	fmt.Fprint(fs.Output(), `wsload: WebSocket load generator.

Usage: wsload -url ws://host:port/path [flags]

Modes:
  echo       each connection sends messages and checks the echoes (order,
             integrity, round-trip latency); the server must echo every
             message back with its type
  idle       open -c connections, hold them for -duration, close them
  handshake  -c workers open and close connections as fast as they can;
             with -h2-conns N, as HTTP/2 streams on N TLS connections

Exit status: 0 normally; 1 if a message was lost, corrupted or reordered,
or no connection could be opened; 2 for bad flags.

Flags:
`)
	fs.PrintDefaults()
}

// validate checks every value on its own and in combination.
func (o *options) validate() error {
	if err := validateURL(o.url); err != nil {
		return err
	}
	switch o.mode {
	case modeEcho, modeIdle, modeHandshake:
	default:
		return fmt.Errorf("-mode %q: must be echo, idle or handshake", o.mode)
	}
	if min := minMessageSize(o.text); o.size < min {
		if o.text {
			return fmt.Errorf("-size %d is too small: with -text a message needs at least %d bytes for its hex-encoded header", o.size, min)
		}
		return fmt.Errorf("-size %d is too small: a message needs at least %d bytes for its header", o.size, min)
	}
	checks := []struct {
		bad bool
		msg string
	}{
		{o.connections < 1, fmt.Sprintf("-c %d: need at least one connection", o.connections)},
		{o.rate < 0, fmt.Sprintf("-rate %v: must be 0 (unthrottled) or positive", o.rate)},
		{o.window < 1, fmt.Sprintf("-window %d: must be at least 1", o.window)},
		{o.duration <= 0, fmt.Sprintf("-duration %v: must be positive", o.duration)},
		{o.ramp <= 0, fmt.Sprintf("-ramp %v: must be positive", o.ramp)},
		{o.progress < 0, fmt.Sprintf("-progress %v: must be 0 (off) or positive", o.progress)},
		{o.drain < 0, fmt.Sprintf("-drain %v: must not be negative", o.drain)},
	}
	for _, c := range checks {
		if c.bad {
			return errors.New(c.msg)
		}
	}
	if err := o.validateH2(); err != nil {
		return err
	}
	return validatePhaseFD(o.phaseFD)
}

// validateH2 checks -h2-conns: WebSockets over HTTP/2 exist only over TLS
// (browsers speak no h2c), and only handshake mode opens them.
func (o *options) validateH2() error {
	switch {
	case o.h2Conns == 0:
		return nil
	case o.h2Conns < 0:
		return fmt.Errorf("-h2-conns %d: must be 0 (HTTP/1.1) or positive", o.h2Conns)
	case o.mode != modeHandshake:
		return fmt.Errorf("-h2-conns applies to -mode handshake only, not %s", o.mode)
	case !strings.HasPrefix(o.url, "wss://"):
		return fmt.Errorf("-h2-conns needs a wss:// URL: WebSockets over HTTP/2 are opened over TLS only")
	case o.h2Conns > o.connections:
		return fmt.Errorf("-h2-conns %d is more than the -c %d workers that would use them", o.h2Conns, o.connections)
	}
	return nil
}

// validatePhaseFD checks that -phase-fd names an open descriptor other
// than the standard streams: wsload closes it when the run ends, so that
// the reader sees the end of the marks, and stdout carries the summary.
func validatePhaseFD(fd int) error {
	if fd == 0 {
		return nil
	}
	if fd < 3 {
		return fmt.Errorf("-phase-fd %d: must be 3 or more (a descriptor opened for wsload, as the shell's 3>file does), or 0 for none", fd)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fmt.Errorf("-phase-fd %d: not an open descriptor: %w", fd, err)
	}
	return nil
}

func validateURL(raw string) error {
	if raw == "" {
		return errors.New("-url is required (ws://host:port/path or wss://...)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return fmt.Errorf("-url %q: scheme must be ws or wss", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("-url %q: no host", raw)
	}
	return nil
}

// tlsConfig builds the client TLS configuration for wss:// targets. The
// TLS flags are ignored for ws:// so that one set of flags can drive a
// benchmark over both kinds of target.
func (o *options) tlsConfig() (*tls.Config, error) {
	if u, _ := url.Parse(o.url); u.Scheme != "wss" {
		return nil, nil
	}
	conf := &tls.Config{
		InsecureSkipVerify: o.insecure,
		ServerName:         o.serverName,
		CurvePreferences:   o.curves,
		// A WebSocket upgrade is HTTP/1.1; never negotiate h2.
		NextProtos: []string{"http/1.1"},
	}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca %s: no PEM certificates found", o.caFile)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// parseLocalAddrs reads -local-addrs. Each address must be an IP this
// machine owns (any of 127.0.0.0/8 on Linux, or an interface's address),
// since a connection cannot be bound to a source address elsewhere; all
// must be of one family, as they take turns dialling the same target.
func parseLocalAddrs(v string) ([]net.IP, error) {
	var out []net.IP
	seen := make(map[string]bool)
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("%q is not an IP address", s)
		}
		if seen[ip.String()] {
			return nil, fmt.Errorf("%s is listed twice", ip)
		}
		seen[ip.String()] = true
		if !ip.IsLoopback() && !isInterfaceAddr(ip) {
			return nil, fmt.Errorf("%s is not an address of this machine (loopback or an interface's)", ip)
		}
		if len(out) > 0 && (ip.To4() == nil) != (out[0].To4() == nil) {
			return nil, fmt.Errorf("%s and %s: IPv4 and IPv6 mixed; a target is reached over one of them", out[0], ip)
		}
		out = append(out, ip)
	}
	return out, nil
}

// isInterfaceAddr reports whether ip is assigned to one of this machine's
// network interfaces.
func isInterfaceAddr(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// curveNames are the key exchanges -curves accepts.
var curveNames = map[string]tls.CurveID{
	"x25519mlkem768": tls.X25519MLKEM768,
	"x25519":         tls.X25519,
	"p256":           tls.CurveP256,
}

// parseCurves reads -curves: comparing servers that do not all support
// the post-quantum hybrid is only fair when the client offers the same
// key exchange to each.
func parseCurves(v string) ([]tls.CurveID, error) {
	var out []tls.CurveID
	for _, name := range strings.Split(v, ",") {
		id, ok := curveNames[strings.TrimSpace(strings.ToLower(name))]
		if !ok {
			return nil, fmt.Errorf("unknown key exchange %q: want x25519mlkem768, x25519 or p256", name)
		}
		out = append(out, id)
	}
	return out, nil
}
