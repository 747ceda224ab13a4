package forwardauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// maxBody bounds what is read of an answer's body: a refusal's body is
// relayed to the client (cut there), a 2xx's is read and dropped so the
// connection can be reused. An auth server's page is small; one that is
// not must not make the proxy hold it.
const maxBody = 64 << 10

// Sentinels a caller classifies a failed check by; the check fails
// closed either way, and nobody is admitted.
var (
	// ErrUnavailable is an auth server that could not be reached, broke
	// off its answer or gave no final answer: the client gets 503.
	ErrUnavailable = errors.New("auth server unavailable")
	// ErrTimeout is an auth server that did not answer within the
	// section's timeout: the client gets 504.
	ErrTimeout = errors.New("auth server timed out")
)

// errCheckTimeout is the cause of a check's own context when its timeout
// expires, which tells it apart from the caller's context ending.
var errCheckTimeout = errors.New("forward auth timeout")

// Client is what the proxy knows of the client that Check cannot read
// from the request itself.
type Client struct {
	// IP is the client's address, trusted proxies already resolved; it
	// is sent as X-Forwarded-For. Empty sends none.
	IP string
	// Proto is "http" or "https", as the client spoke to the proxy; it
	// is sent as X-Forwarded-Proto. Empty sends none.
	Proto string
}

// Verdict is the auth server's answer to one check. The zero Verdict
// admits nobody.
type Verdict struct {
	// Admit is true when the auth server answered 2xx.
	Admit bool
	// Copy holds, on admit, those of the section's copy_headers the
	// answer carried, with all their values. Apply it with ApplyTo.
	Copy http.Header
	// Status is, on refusal, the answer's status, which the client gets.
	Status int
	// Header is, on refusal, the answer's end-to-end headers
	// (WWW-Authenticate, Location, Set-Cookie...), hop-by-hop headers and
	// Content-Length removed.
	Header http.Header
	// Body is, on refusal, the answer's body, cut at 64 KiB.
	Body []byte

	copyNames []string // the section's copy_headers, canonical
}

// ApplyTo sets the copied headers on h, the header of the request to the
// backend. Every copy_headers name is deleted first, whether or not the
// answer carried it: a client's own X-User-Id is a forgery the backend
// must never see.
func (v *Verdict) ApplyTo(h http.Header) {
	for _, name := range v.copyNames {
		delete(h, name)
	}
	for name, values := range v.Copy {
		h[name] = append([]string(nil), values...)
	}
}

// Checker asks one auth server. It is safe for concurrent use; build it
// once per configuration and Close it when a reload replaces it.
type Checker struct {
	url       string // the check endpoint
	shownURL  string // url as errors show it, tokens redacted
	copyNames []string
	timeout   time.Duration
	client    *http.Client
}

// New returns a Checker for cfg, which must be valid and Enabled. It has
// its own connection pool: the environment's HTTP proxy is never used
// (the auth server is the operator's, usually next to wsedge, and the
// client's credentials must go nowhere else), and redirects are relayed
// to the client, never followed.
func New(cfg Config) *Checker {
	names := make([]string, len(cfg.CopyHeaders))
	for i, n := range cfg.CopyHeaders {
		names[i] = http.CanonicalHeaderKey(n)
	}
	transport := &http.Transport{
		Proxy: nil, // never HTTP_PROXY: see New's doc
		// The check's context bounds the dial; no timeout of its own.
		DialContext:            (&net.Dialer{}).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    64, // every handshake asks the same host
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 1 << 20,
		// Relay a refusal's body as the auth server encoded it, rather
		// than asking for gzip behind the client's back and decoding.
		DisableCompression: true,
	}
	return &Checker{
		url:       cfg.URL,
		shownURL:  RedactURI(cfg.URL),
		copyNames: names,
		timeout:   cfg.timeout(),
		client: &http.Client{
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// Close closes the Checker's idle connections. Checks in flight finish;
// a check after Close opens new connections.
func (c *Checker) Close() { c.client.CloseIdleConnections() }

// Check asks the auth server about r, the client's request, within the
// section's timeout and ctx. The subrequest is a GET without a body
// carrying r's end-to-end headers (Cookie, Authorization, Origin,
// Sec-WebSocket-Protocol...) and X-Forwarded-Method, -Uri, -Host, -Proto
// and -For; the handshake's own headers stay out.
//
// A check that cannot be completed returns an error, never a Verdict:
// one wrapping ErrTimeout when the timeout expired, ErrUnavailable when
// the auth server failed, and ctx's error when ctx ended first.
func (c *Checker) Check(ctx context.Context, r *http.Request, client Client) (*Verdict, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, errCheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("forward auth GET %s: %w", c.shownURL, err)
	}
	req.Header = subrequestHeader(r, client)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, c.failed(ctx, "", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 {
		// A 101 would hand over the connection; nothing was asked for.
		return nil, fmt.Errorf("forward auth GET %s: %w: unexpected status %d", c.shownURL, ErrUnavailable, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, c.failed(ctx, "read answer: ", err)
	}
	v := &Verdict{copyNames: c.copyNames}
	if resp.StatusCode <= 299 {
		v.Admit = true
		v.Copy = http.Header{}
		for _, name := range c.copyNames {
			if values, ok := resp.Header[name]; ok {
				v.Copy[name] = values
			}
		}
		return v, nil
	}
	v.Status = resp.StatusCode
	v.Header = relayedHeader(resp.Header)
	v.Body = body
	return v, nil
}

// failed classifies err, which ended a check under ctx: the check's own
// timeout, the caller's context, or else the auth server.
func (c *Checker) failed(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		if context.Cause(ctx) == errCheckTimeout {
			return fmt.Errorf("forward auth GET %s: %s%w after %v", c.shownURL, op, ErrTimeout, c.timeout)
		}
		return fmt.Errorf("forward auth GET %s: %s%w", c.shownURL, op, ctx.Err())
	}
	// A *url.Error repeats the URL unredacted; the prefix names it.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("forward auth GET %s: %s%w: %w", c.shownURL, op, ErrUnavailable, err)
}
