// Package acmetest runs a real ACME server for wsedge's tests: Pebble,
// Let's Encrypt's test CA, in the test's own process on loopback, with a
// DNS server of the test's own that resolves every name to 127.0.0.1, so
// Pebble's validator reaches the code under test, and the HTTP/1.1
// listeners it validates against (ServeHTTP1). The root package's
// end-to-end tests, tlsconf's and cluster's tests share it. Only tests
// import it.
package acmetest
