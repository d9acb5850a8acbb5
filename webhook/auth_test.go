package webhook

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	testSecret = "s3cr3t-forge-7f1c"
	sigHeader  = "X-Forge-Signature-256"
)

// signature returns the X-Forge-Signature-256 value for body under secret.
func signature(body []byte, secret string) string {
	return "sha256=" + hex.EncodeToString(Sign(body, secret))
}

func TestAuth(t *testing.T) {
	body := []byte(`{"image": "registry.example.com/shop/web", "tag": "1.4"}`)
	sha1sig := func() string {
		m := hmac.New(sha1.New, []byte(testSecret))
		m.Write(body)
		return "sha1=" + hex.EncodeToString(m.Sum(nil))
	}()
	hmacForge := hmacAuth(sigHeader, "sha256=")

	tests := []struct {
		name    string
		auth    authFunc
		headers map[string]string
		body    []byte // the body the request arrives with; nil means body
		secret  string
		wantErr error // nil means accepted
	}{
		{
			name:    "hmac/right signature",
			auth:    hmacForge,
			headers: map[string]string{sigHeader: signature(body, testSecret)},
			secret:  testSecret,
		},
		{
			name:    "hmac/uppercase hex signature",
			auth:    hmacForge,
			headers: map[string]string{sigHeader: "sha256=" + strings.ToUpper(hex.EncodeToString(Sign(body, testSecret)))},
			secret:  testSecret,
		},
		{
			name:    "hmac/signature with surrounding space",
			auth:    hmacForge,
			headers: map[string]string{sigHeader: " " + signature(body, testSecret) + " "},
			secret:  testSecret,
		},
		{
			name:    "hmac/wrong signature",
			auth:    hmacForge,
			headers: map[string]string{sigHeader: signature(body, "another-secret")},
			secret:  testSecret,
			wantErr: errBadSig,
		},
		{
			name:    "hmac/missing header",
			auth:    hmacForge,
			secret:  testSecret,
			wantErr: errNoAuth,
		},
		{
			name:    "hmac/sha1 prefix and sha1 mac",
			auth:    hmacForge,
			headers: map[string]string{sigHeader: sha1sig},
			secret:  testSecret,
			wantErr: errBadSigForm,
		},
		{
			name:    "hmac/sha1 prefix on a right sha256 mac",
			auth:    hmacForge,
			headers: map[string]string{sigHeader: "sha1=" + hex.EncodeToString(Sign(body, testSecret))},
			secret:  testSecret,
			wantErr: errBadSigForm,
		},
		{
			name:    "hmac/no prefix",
			auth:    hmacForge,
			headers: map[string]string{sigHeader: hex.EncodeToString(Sign(body, testSecret))},
			secret:  testSecret,
			wantErr: errBadSigForm,
		},
		{
			name:    "hmac/tampered body",
			auth:    hmacForge,
			headers: map[string]string{sigHeader: signature(body, testSecret)},
			body:    []byte(`{"image": "registry.example.com/evil/web", "tag": "1.4"}`),
			secret:  testSecret,
			wantErr: errBadSig,
		},
		{
			name:    "hmac/empty secret configured",
			auth:    hmacForge,
			headers: map[string]string{sigHeader: signature(body, "")},
			secret:  "",
			wantErr: errNoSecret,
		},
		{
			name:    "hmac/empty secret configured, empty bearer",
			auth:    hmacForge,
			headers: map[string]string{"Authorization": "Bearer "},
			secret:  "",
			wantErr: errNoSecret,
		},
		{
			name:    "hmac/bearer token accepted",
			auth:    hmacForge,
			headers: map[string]string{"Authorization": "Bearer " + testSecret},
			secret:  testSecret,
		},
		{
			name:    "hmac/wrong bearer rejected",
			auth:    hmacForge,
			headers: map[string]string{"Authorization": "Bearer not-the-secret"},
			secret:  testSecret,
			wantErr: errBadAuth,
		},
		{
			name:    "hmac/bare secret in authorization rejected",
			auth:    hmacForge,
			headers: map[string]string{"Authorization": testSecret},
			secret:  testSecret,
			wantErr: errBadAuth,
		},
		{
			name: "hmac/bad signature is not rescued by a right bearer",
			auth: hmacForge,
			headers: map[string]string{
				sigHeader:       signature(body, "another-secret"),
				"Authorization": "Bearer " + testSecret,
			},
			secret:  testSecret,
			wantErr: errBadSig,
		},
		{
			name:    "hmac/non-hex signature",
			auth:    hmacForge,
			headers: map[string]string{sigHeader: "sha256=" + strings.Repeat("zz", 32)},
			secret:  testSecret,
			wantErr: errBadSigForm,
		},
		{
			name:    "hmac/truncated signature",
			auth:    hmacForge,
			headers: map[string]string{sigHeader: signature(body, testSecret)[:len("sha256=")+62]},
			secret:  testSecret,
			wantErr: errBadSigForm,
		},
		{
			name:    "hmac/signature with extra bytes",
			auth:    hmacForge,
			headers: map[string]string{sigHeader: signature(body, testSecret) + "00"},
			secret:  testSecret,
			wantErr: errBadSigForm,
		},
		{
			name:    "token/bearer accepted",
			auth:    tokenAuth,
			headers: map[string]string{"Authorization": "Bearer " + testSecret},
			secret:  testSecret,
		},
		{
			name:    "token/bare token accepted",
			auth:    tokenAuth,
			headers: map[string]string{"Authorization": testSecret},
			secret:  testSecret,
		},
		{
			name:    "token/wrong bearer rejected",
			auth:    tokenAuth,
			headers: map[string]string{"Authorization": "Bearer not-the-secret"},
			secret:  testSecret,
			wantErr: errBadAuth,
		},
		{
			name:    "token/empty bearer rejected",
			auth:    tokenAuth,
			headers: map[string]string{"Authorization": "Bearer "},
			secret:  testSecret,
			wantErr: errBadAuth,
		},
		{
			name:    "token/secret prefix only rejected",
			auth:    tokenAuth,
			headers: map[string]string{"Authorization": "Bearer " + testSecret[:len(testSecret)-1]},
			secret:  testSecret,
			wantErr: errBadAuth,
		},
		{
			name:    "token/missing header",
			auth:    tokenAuth,
			secret:  testSecret,
			wantErr: errNoAuth,
		},
		{
			name:    "token/signature header is not a token",
			auth:    tokenAuth,
			headers: map[string]string{sigHeader: signature(body, testSecret)},
			secret:  testSecret,
			wantErr: errNoAuth,
		},
		{
			name:    "token/empty secret configured",
			auth:    tokenAuth,
			headers: map[string]string{"Authorization": "Bearer "},
			secret:  "",
			wantErr: errNoSecret,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.body
			if got == nil {
				got = body
			}
			r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/hooks/x", strings.NewReader(string(got)))
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			err := tt.auth(r, got, tt.secret)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestSignGitHubVector checks Sign and checkHMAC against the example in
// GitHub's "Validating webhook deliveries" documentation.
func TestSignGitHubVector(t *testing.T) {
	const (
		body   = "Hello, World!"
		secret = "It's a Secret to Everybody"
		want   = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	)
	if got := signature([]byte(body), secret); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	tests := []struct {
		name    string
		sig     string
		body    string
		secret  string
		wantErr error
	}{
		{"documented signature", want, body, secret, nil},
		{"last digit changed", want[:len(want)-1] + "8", body, secret, errBadSig},
		{"other body", want, "Hello, World?", secret, errBadSig},
		{"other secret", want, body, "It's a secret to everybody", errBadSig},
		{"sha1 prefix", "sha1=" + want[len("sha256="):], body, secret, errBadSigForm},
		{"empty", "", body, secret, errBadSigForm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkHMAC(tt.sig, "sha256=", []byte(tt.body), tt.secret)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("checkHMAC = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
