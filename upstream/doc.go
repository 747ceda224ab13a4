// Package upstream is what a route points at: a pool of WebSocket backends
// reached through a URL template (ws://127.0.0.1:8765/light/{status}), or a
// built-in handler (echo, broadcast, demo) that serves the client itself.
//
// It knows nothing of routing or listeners; routes builds one Target per
// route from its Config, and proxy drives the Target for each request.
package upstream
