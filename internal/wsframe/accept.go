package wsframe

import (
	"crypto/sha1"
	"encoding/base64"
)

// acceptGUID is what RFC 6455 section 1.3 appends to a handshake's key
// before hashing it into Sec-WebSocket-Accept.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey is the Sec-WebSocket-Accept value that answers a handshake
// whose Sec-WebSocket-Key is key (RFC 6455 section 4.2.2). Both ends of
// wsedge's handshakes, and the test clients, compute it here.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}
