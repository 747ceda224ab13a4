// Deterministic test payloads, shared by the Node client (require) and
// the browser page (a <script>). interop/payload.go makes the same bytes
// in Go, so the Go test knows the SHA-256 of every message a peer should
// have received without the payload crossing the test's own pipes.
//
//   text:   "ws-\u00e9dge " (9 bytes of UTF-8, one 2-byte character)
//           repeated, then "x" up to the size: valid UTF-8 whatever the
//           size, with multi-byte characters across every frame and read
//           boundary, and very compressible.
//   binary: the low byte of a xorshift32 sequence seeded with the size:
//           incompressible.
(function (root) {
  'use strict';

  function textPayload(size) {
    return 'ws-\u00e9dge '.repeat(Math.floor(size / 9)) + 'x'.repeat(size % 9);
  }

  function binaryPayload(size) {
    const out = new Uint8Array(size);
    let x = (0x9e3779b9 ^ size) >>> 0;
    if (x === 0) x = 1;
    for (let i = 0; i < size; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out[i] = x & 0xff;
    }
    return out;
  }

  const api = { textPayload, binaryPayload };
  if (typeof module === 'object' && module.exports) {
    module.exports = api;
  } else {
    root.interopPayload = api;
  }
})(typeof self !== 'undefined' ? self : this);
