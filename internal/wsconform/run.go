package wsconform

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"
)

// Options adjusts how Run connects. The zero value connects to ws:// URLs
// with no extra headers, and to wss:// URLs verifying the server against
// the system roots.
type Options struct {
	// TLSConfig is used for wss:// URLs; ServerName defaults to the URL's
	// host.
	TLSConfig *tls.Config
	// Header adds headers to every upgrade request, after the ones RFC
	// 6455 section 4.1 requires. Host is always the URL's host.
	Header http.Header
	// Open, if set, opens each case's connection instead of a TCP (or
	// TLS) connection and an HTTP/1.1 upgrade: it returns the connection
	// once its opening handshake is done (an HTTP/2 stream, RFC 8441),
	// and a reader that holds whatever came behind the handshake. ctx
	// bounds the handshake only, not the connection. The connection's
	// read deadlines must work: the cases wait with them.
	Open func(ctx context.Context) (net.Conn, *bufio.Reader, error)
	// WaitScale multiplies every wait of the client: each case's wait,
	// the closing handshake and TCP drop timeouts, the pause of case 5.19.
	// Zero (or less) means 1, Autobahn's timings. A conforming server
	// never makes a case wait them out, so raising it (under -race, on a
	// loaded machine, through a slow relay) only lengthens failing cases.
	WaitScale float64
}

// scale applies WaitScale to d.
func (o Options) scale(d time.Duration) time.Duration {
	if o.WaitScale <= 0 {
		return d
	}
	return time.Duration(float64(d) * o.WaitScale)
}

// Run plays cases in order against the WebSocket server at url, one fresh
// connection per case and one case at a time, as Autobahn's fuzzing
// client does, and returns a result for each. It returns early, with the
// results so far, if ctx ends or the server cannot be reached at all (a
// *DialError); a refused upgrade only fails its case.
func Run(ctx context.Context, url string, cases []Case) ([]Result, error) {
	return RunWithOptions(ctx, url, cases, Options{})
}

// RunWithOptions is Run with connection options.
func RunWithOptions(ctx context.Context, url string, cases []Case, opts Options) ([]Result, error) {
	d, err := newDialer(url, opts)
	if err != nil {
		return nil, err
	}
	results := make([]Result, 0, len(cases))
	for i := range cases {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		r, err := runCase(ctx, d, &cases[i], opts)
		if err != nil {
			return results, err
		}
		results = append(results, r)
	}
	return results, nil
}

// runCase runs one case on its own connection.
func runCase(ctx context.Context, d *dialer, c *Case, opts Options) (Result, error) {
	if len(c.Steps) == 0 {
		return Result{
			ID: c.ID, Autobahn: c.Autobahn, Description: c.Description, Expectation: c.Expectation,
			Verdict: VerdictUnimplemented, CloseVerdict: CloseInformational,
			Notes: []string{"the case has no script"},
		}, nil
	}
	start := time.Now()
	conn, br, err := d.dial(ctx)
	if err != nil {
		var de *DialError
		if errors.As(err, &de) || ctx.Err() != nil {
			return Result{}, err
		}
		return judge(c, Observation{HandshakeError: err.Error(), Duration: time.Since(start)}), nil
	}
	obs := newSession(c, conn, br, opts).run(ctx)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	obs.Duration = time.Since(start)
	return judge(c, obs), nil
}
