package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/upstream"
)

// httpTarget travels in a plain request's context from proxyHTTP to the
// reverse proxy's Rewrite, transport and error handler.
type httpTarget struct {
	url     *url.URL
	backend *upstream.HTTPTarget
	route   *route
}

type httpTargetKey struct{}

// proxyHTTP forwards a plain request on a backend route to the backend's
// http(s) URL, so a page and its socket can sit behind one route.
func (s *Server) proxyHTTP(w http.ResponseWriter, r *http.Request, rt *route, pool *upstream.Pool, params httprouter.Params) {
	backend, err := pool.PickHTTP(upstream.DialRequest{
		Params: params, RawQuery: r.URL.RawQuery, Header: r.Header, ClientIP: clientIP(r),
	})
	if err != nil {
		s.writeError(w, r, rt, err)
		return
	}
	defer backend.Done(nil, false)
	u, err := url.Parse(backend.URL)
	if err != nil {
		s.writeError(w, r, rt, err)
		return
	}
	t := &httpTarget{url: u, backend: backend, route: rt}
	start := time.Now()
	rec := &accessRecorder{ResponseWriter: w}
	s.reverse.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), httpTargetKey{}, t)))
	s.log.Info("http request", append([]any{"route", rt.Label(), "method", r.Method, "path", r.URL.Path,
		"status", rec.status(), "bytes", rec.bytes, "duration", time.Since(start).Round(time.Microsecond), "client", r.RemoteAddr},
		queryAttrs(r)...)...)
}

// accessRecorder notes a proxied response's status and size for the
// access line. Unwrap lets the reverse proxy flush the real writer.
type accessRecorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (a *accessRecorder) WriteHeader(code int) {
	if a.code == 0 && code >= 200 { // not an informational 1xx
		a.code = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *accessRecorder) Write(p []byte) (int, error) {
	n, err := a.ResponseWriter.Write(p)
	a.bytes += int64(n)
	return n, err
}

func (a *accessRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// status is the status sent: 200 when the handler wrote without one.
func (a *accessRecorder) status() int {
	if a.code == 0 {
		return http.StatusOK
	}
	return a.code
}

func (s *Server) newReverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(httpTargetKey{}).(*httpTarget)
			pr.Out.URL = t.url
			pr.Out.Host = pr.In.Host
			// Only wsedge, or a trusted proxy before it, says who the
			// client is.
			setForwarded(pr.Out.Header, pr.In)
			// Only WebSocket upgrades switch protocols, and not on this
			// path: no h2c or other tunnels through a plain request.
			pr.Out.Header.Del("Upgrade")
			pr.Out.Header.Del("Connection")
		},
		Transport: routeTransport{},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			t := r.Context().Value(httpTargetKey{}).(*httpTarget)
			clientGone := r.Context().Err() != nil
			t.backend.Done(err, clientGone)
			if clientGone {
				s.log.Debug("client went away during proxied request", "route", t.route.Label(), "path", r.URL.Path)
				return
			}
			s.writeError(w, r, t.route, err, "backend", t.backend.Backend())
		},
	}
}

// routeTransport sends each proxied request through its route's transport.
type routeTransport struct{}

func (routeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t, ok := req.Context().Value(httpTargetKey{}).(*httpTarget)
	if !ok {
		return nil, errors.New("proxy: request without a target")
	}
	return t.backend.Transport.RoundTrip(req)
}

// newTransport is the transport for plain requests to backends. The dial
// and TLS handshake are bounded by handshake_timeout; waiting for the
// response is not, so long polls work (the client decides when to give up).
func newTransport(handshakeTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:               nil, // backends are reached directly, whatever HTTP_PROXY says
		DialContext:         (&net.Dialer{Timeout: handshakeTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: handshakeTimeout,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
}
