// Package tlsconf provides the certificates wsedge's https listener serves:
// certificate files chosen by SNI and, for development, a self-signed
// certificate generated in memory. It stands alone: it imports nothing else
// from wsedge, and main hands its *tls.Config to the proxy.
package tlsconf
