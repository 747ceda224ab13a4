// Package interop is wsedge's interoperability suite (issue 11): its tests
// start real peers on loopback — Node's ws (client and server), Python's
// websockets (the README's log tail and light servers, and an echo
// server), a tornado chat app, and headless Chromium — and put the real
// wsedge binary between them, as users run it.
//
// The package holds only test helpers: one file per peer (peers_node.go,
// peers_python.go, chromium.go), wsedge itself (wsedge.go), the payloads
// every peer agrees on (payload.go), and the scenarios in
// scenarios_*_test.go. The peers' programs are in testdata/.
//
// A peer that is not installed skips the tests that need it, saying which
// and how to install it; under CI=true (.ci/run, which installs every peer)
// it fails them instead.
package interop
