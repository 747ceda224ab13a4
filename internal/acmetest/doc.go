// Package acmetest runs a real ACME server for wsedge's tests: Pebble,
// Let's Encrypt's test CA, in the test's own process on loopback, with a
// DNS server of the test's own that resolves every name to 127.0.0.1, so
// Pebble's validator reaches the code under test. The root package's
// end-to-end tests and tlsconf's tests share it. Only tests import it.
package acmetest
