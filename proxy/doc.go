// Package proxy is wsedge's data path: the listeners, the WebSocket
// handshake with client and backend, the frame pump between them,
// keepalive, built-in handler connections, plain HTTP proxying, and the
// graceful drain on shutdown.
//
// Every upgraded connection is registered with one tracker, which is where
// shutdown finds them (and where metrics and reload will).
package proxy
