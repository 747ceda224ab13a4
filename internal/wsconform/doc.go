// Package wsconform is an RFC 6455 conformance client modelled on the
// fuzzing client of the Autobahn|Testsuite (crossbario/autobahn-testsuite),
// which cannot run here. It exists to check that wsedge's frame relay keeps
// a backend's conformance: run the catalogue once straight at an echo
// backend and once through the relay, and the per-case verdicts must match.
//
//	direct, err := wsconform.Run(ctx, "ws://"+backendAddr, wsconform.Cases())
//	proxied, err := wsconform.Run(ctx, "ws://"+edgeAddr+"/echo", wsconform.Cases())
//	for _, d := range wsconform.Diff(direct, proxied) { t.Error(d) }
//
// The client is its own: it writes the upgrade request by hand, encodes and
// decodes frames itself (masking with a random key, as a client must) and
// can build frames no library would send: unmasked, with reserved bits or
// opcodes, oversized or fragmented control frames, broken fragment
// sequences, close frames with any payload. Chopped frames go out in
// separate writes with TCP_NODELAY and no pause. Nothing is imported from
// the rest of wsedge.
//
// Each case runs on a fresh connection and is judged as Autobahn judges it
// (case/case.py, onConnectionLost): the server's messages and pongs must
// match the expected sequence exactly (Verdict: OK, NON-STRICT, FAILED,
// INFORMATIONAL), and the closing behaviour is judged apart (CloseVerdict:
// who started the closing handshake, whether it was clean, the close code).
// The client behaves like Autobahn's fuzzing client: it answers pings, it
// answers a server's Close with 1000, it closes with 1000 once the
// expected events are in, it waits per case as long as the Autobahn case
// does before closing (closeAfter) or failing the connection with 1001
// (killAfter, failByDrop off), and it drops TCP when the server takes more
// than a second to answer its Close or to close TCP after the handshake.
// Options.WaitScale stretches all of these waits for slow environments.
//
// Where wsconform departs from Autobahn, on purpose:
//   - A text message that is not valid UTF-8 is recorded, not rejected,
//     and a server that echoes invalid UTF-8 unchanged scores INFORMATIONAL
//     instead of FAILED (Expect.UnvalidatedEcho).
//   - Server pings are answered and counted but are not events, since a
//     relay may add keepalive pings of its own.
//   - Case 5.19 waits for the first pong (at most a second) instead of a
//     fixed second before sending the rest of its message.
//   - After answering a server's Close the client stops its script, rather
//     than sending data after its own Close.
//   - Section 6 is a selection, section 9 stops at 1 MiB, and the fuzzing
//     sections 10 and beyond (compression, auto-fragmentation) are absent.
//
// Case IDs are Autobahn's where a case reproduces one; wsconform's own
// variants are named after the case they extend, with a slash ("3.6/ping",
// "7.9.x/1015", "9.3.4/1M").
package wsconform
