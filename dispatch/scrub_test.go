package dispatch

import (
	"strings"
	"testing"
)

func TestScrubberString(t *testing.T) {
	sc := newScrubber([]string{"ghp_0123456789abcdef", "abc", ""})
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "URL with user and password",
			in:   "pull https://bob:s3cr3t@reg.example/v2/acme/web: unauthorized",
			want: "pull https://***@reg.example/v2/acme/web: unauthorized",
		},
		{
			name: "URL with a token as user",
			in:   "fetch git+ssh://tok3n@git.example/acme.git",
			want: "fetch git+ssh://***@git.example/acme.git",
		},
		{
			name: "password=",
			in:   "login: password=hunter2 rejected",
			want: "login: password=*** rejected",
		},
		{
			name: "token:",
			in:   "token: eyJhbGciOi.payload.sig expired",
			want: "token: *** expired",
		},
		{
			name: "Authorization: Bearer",
			in:   "request had Authorization: Bearer xyz and failed",
			want: "request had Authorization: *** and failed",
		},
		{
			name: "Authorization: Basic",
			in:   "Authorization: Basic Ym9iOnMzY3IzdA==",
			want: "Authorization: ***",
		},
		{
			name: "quoted JSON value",
			in:   `body {"username":"bob","password":"hunter2"}`,
			want: `body {"username":"bob","password":"***"}`,
		},
		{
			name: "key names in any case",
			in:   "API_KEY=k-123 Secret: s-456",
			want: "API_KEY=*** Secret: ***",
		},
		{
			name: "configured secret anywhere in the text",
			in:   "registry refused ghp_0123456789abcdef for acme",
			want: "registry refused *** for acme",
		},
		{
			name: "configured secrets shorter than four characters are ignored",
			in:   "abcdef",
			want: "abcdef",
		},
		{
			name: "ordinary error text is unchanged",
			in:   "deploy shop/web: pin ghcr.io/acme/web:1.4: resolve digest: dial tcp 10.0.0.7:443: connect: connection refused",
			want: "deploy shop/web: pin ghcr.io/acme/web:1.4: resolve digest: dial tcp 10.0.0.7:443: connect: connection refused",
		},
		{
			name: "URLs without credentials and digests are unchanged",
			in:   "GET https://reg.example:5000/v2/acme/web/manifests/sha256:0123abcd returned 404; author: alice",
			want: "GET https://reg.example:5000/v2/acme/web/manifests/sha256:0123abcd returned 404; author: alice",
		},
		{
			name: "empty",
			in:   "",
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sc.String(tt.in); got != tt.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestScrubberHardCases covers secrets that a first version leaked in part.
func TestScrubberHardCases(t *testing.T) {
	sc := newScrubber([]string{"abcd", "abcdefgh"})
	tests := []struct {
		name, in, leak string
	}{
		{"overlapping configured secrets", "got abcdefgh back", "efgh"},
		{"quoted value with spaces", `password="correct horse battery" refused`, "horse"},
		{"value with a semicolon", "password=abc;def refused", "def"},
		{"@ inside a URL password", "https://user:p@ss@host/v2/", "ss@"},
		{"flag-style password", "login --password hunter2 failed", "hunter2"},
		{"upper-case key, space separated", "PASSWORD hunter3 refused", "hunter3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sc.String(tt.in)
			if strings.Contains(got, tt.leak) {
				t.Fatalf("scrub(%q) = %q still holds %q", tt.in, got, tt.leak)
			}
			if !strings.Contains(got, "***") {
				t.Fatalf("scrub(%q) = %q marks nothing", tt.in, got)
			}
		})
	}
}
