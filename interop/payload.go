package interop

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// The message sizes every echo scenario sends, in each kind: empty, the
// largest and smallest payloads of each frame-length encoding (RFC 6455
// section 5.2: 7-bit up to 125, 16-bit up to 65535, 64-bit beyond), and
// two large messages that cross many reads.
var echoSizes = []int{0, 125, 126, 65535, 65536, 1 << 20, 4 << 20}

// maxMessageBytes is wsedge's limits.max_message_bytes in the suite's
// configurations: well above the largest message sent.
const maxMessageBytes = "16MiB"

// payload returns the message of kind "text" or "binary" and size bytes
// that testdata/browser/payload.js makes for the Node client and the
// browser page. Text is "ws-édge " (9 bytes, one 2-byte character)
// repeated, then "x" up to size: valid UTF-8 at any size, and very
// compressible. Binary is the low byte of a xorshift32 sequence seeded
// with the size: incompressible.
func payload(kind string, size int) []byte {
	if kind == "text" {
		return []byte(strings.Repeat("ws-édge ", size/9) + strings.Repeat("x", size%9))
	}
	out := make([]byte, size)
	x := uint32(0x9e3779b9) ^ uint32(size)
	if x == 0 {
		x = 1
	}
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = byte(x)
	}
	return out
}

// payloadSHA256 is the hex SHA-256 of payload(kind, size), which is what
// a peer reports for each message it received.
func payloadSHA256(kind string, size int) string {
	sum := sha256.Sum256(payload(kind, size))
	return hex.EncodeToString(sum[:])
}

// sizeName names a size for a subtest: 0B, 125B, 1MiB.
func sizeName(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dB", n)
}
