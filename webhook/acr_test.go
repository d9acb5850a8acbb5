package webhook

import (
	"net/http"
	"testing"
)

// TestParseACRDigest checks that a digest ACR's body cannot vouch for, such
// as the documentation's redacted sha256:xxxx…, leaves the event's digest
// empty instead of rejecting the push.
func TestParseACRDigest(t *testing.T) {
	const valid = "sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d"
	tests := []struct{ name, digest, want string }{
		{"valid", valid, valid},
		{"redacted", "sha256:xxxxd5c8786bb9e621a45ece0dbxxxx1cdc624ad20da9fe62e9d25490f33xxxx", ""},
		{"upper-case hex", "sha256:80F0D5C8786BB9E621A45ECE0DB56D11CDC624AD20DA9FE62E9D25490F331D7D", ""},
		{"sha512", "sha512:" + valid[7:] + valid[7:], ""},
		{"missing", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(`{"id": "e1", "action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
				"repository": "shop/web", "tag": "1.4", "digest": "` + tt.digest + `"}, "request": {"host": "acme.azurecr.io"}}`)
			events, ignored, err := parseACR(http.Header{}, body)
			if err != nil || len(events) != 1 {
				t.Fatalf("got %v, %q, %v; want one event", events, ignored, err)
			}
			if events[0].Digest != tt.want {
				t.Errorf("digest = %q, want %q", events[0].Digest, tt.want)
			}
		})
	}
}
