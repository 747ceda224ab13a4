// Package tlsconf provides the certificates wsedge's https listener serves:
// certificates obtained and renewed with ACME, certificate files chosen by
// SNI and reloaded when they change, and, for development, a self-signed
// certificate generated in memory. It stands alone: of wsedge it imports
// only the leaf internal/conftypes, and main hands its *tls.Config (and
// its ACME HTTP-01 responder) to the proxy. In a cluster, main hands it
// the store the instances share their ACME state in (ACMEStore).
package tlsconf
