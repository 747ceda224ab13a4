package acmetest

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"testing"
)

// ServeHTTP1 serves h on ln, over TLS with tlsConfig if it is not nil, as
// the proxy does for the validator: HTTP/1.1 only, so ALPN offers what
// tlsConfig says (acme-tls/1 for TLS-ALPN-01). The server is closed, and
// waited for, at t's cleanup.
func ServeHTTP1(t testing.TB, ln net.Listener, h http.Handler, tlsConfig *tls.Config) {
	t.Helper()
	srv := &http.Server{Handler: h, TLSConfig: tlsConfig, ErrorLog: log.New(io.Discard, "", 0)}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	var wg sync.WaitGroup
	wg.Go(func() {
		var err error
		if tlsConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve %s: %v", ln.Addr(), err)
		}
	})
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
}
