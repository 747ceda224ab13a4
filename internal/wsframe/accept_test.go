package wsframe

import "testing"

// TestAcceptKey: the example of RFC 6455 section 1.3.
func TestAcceptKey(t *testing.T) {
	if got, want := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
