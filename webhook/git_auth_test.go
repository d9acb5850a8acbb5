package webhook

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestGitAuthVectors checks the git forges' published signature and token
// test vectors (recomputed in ../shared/payloads/README.md) against the auth
// check each provider is served with, over the exact payload bytes kept in
// testdata.
func TestGitAuthVectors(t *testing.T) {
	const (
		githubBody    = "github/go-scm__push.json"
		giteaBody     = "gitea/go-playground__push-event.json"
		gogsBody      = "gogs/go-playground__push-event.json"
		bitbucketBody = "bitbucket/go-playground__bitbucket-server-repo-refs-changed.json"
		gitlabBody    = "gitlab/go-playground__push-event.json"

		giteaSecret = "IsWishesWereHorsesWedAllBeEatingSteak!"
		giteaSig    = "60fe446c74fa0cb9474f98cc557db79e10c7aaf22cf324ad65239600b9e4d915"
	)
	tests := []struct {
		name     string
		provider string
		body     string // testdata path of the payload
		tamper   bool   // flip one byte of the body after signing
		headers  map[string]string
		secret   string
		wantErr  error // nil means accepted
	}{
		{
			name:     "github/go-scm vector",
			provider: "github",
			body:     githubBody,
			headers:  map[string]string{"X-Hub-Signature-256": "sha256=e3bfe744d4e2e29ed990bde8acfb8255ca51ef65f99657767989fb6349f32957"},
			secret:   "topsecret",
		},
		{
			name:     "github/go-scm wrong signature",
			provider: "github",
			body:     githubBody,
			headers:  map[string]string{"X-Hub-Signature-256": "sha256=3bfbbc3bfc44498db2254f577b2e4bed201ece6163518ba91cb2c21f0f59d512"},
			secret:   "topsecret",
			wantErr:  errBadSig,
		},
		{
			name:     "github/right signature, wrong secret",
			provider: "github",
			body:     githubBody,
			headers:  map[string]string{"X-Hub-Signature-256": "sha256=e3bfe744d4e2e29ed990bde8acfb8255ca51ef65f99657767989fb6349f32957"},
			secret:   "topsecret2",
			wantErr:  errBadSig,
		},
		{
			name:     "github/tampered body",
			provider: "github",
			body:     githubBody,
			tamper:   true,
			headers:  map[string]string{"X-Hub-Signature-256": "sha256=e3bfe744d4e2e29ed990bde8acfb8255ca51ef65f99657767989fb6349f32957"},
			secret:   "topsecret",
			wantErr:  errBadSig,
		},
		{
			name:     "github/legacy sha1 header alone is not enough",
			provider: "github",
			body:     githubBody,
			headers:  map[string]string{"X-Hub-Signature": "sha1=cf93f9ba3c8d3a789e61f91e1e5c6a360d036e98"},
			secret:   "topsecret",
			wantErr:  errNoAuth,
		},
		{
			name:     "gitea/go-playground vector",
			provider: "gitea",
			body:     giteaBody,
			headers:  map[string]string{"X-Gitea-Signature": giteaSig},
			secret:   giteaSecret,
		},
		{
			name:     "gitea/signature with a sha256= prefix",
			provider: "gitea",
			body:     giteaBody,
			headers:  map[string]string{"X-Gitea-Signature": "sha256=" + giteaSig},
			secret:   giteaSecret,
			wantErr:  errBadSigForm,
		},
		{
			name:     "gitea/wrong secret",
			provider: "gitea",
			body:     giteaBody,
			headers:  map[string]string{"X-Gitea-Signature": giteaSig},
			secret:   "IsWishesWereHorsesWedAllBeEatingSteak?",
			wantErr:  errBadSig,
		},
		{
			// Gitea sends its signature headers empty when the hook has no secret.
			name:     "gitea/empty signature header",
			provider: "gitea",
			body:     giteaBody,
			headers:  map[string]string{"X-Gitea-Signature": ""},
			secret:   giteaSecret,
			wantErr:  errNoAuth,
		},
		{
			// Forgejo signs exactly as Gitea does, under its own header name.
			name:     "forgejo/gitea vector under X-Forgejo-Signature",
			provider: "forgejo",
			body:     giteaBody,
			headers:  map[string]string{"X-Forgejo-Signature": giteaSig},
			secret:   giteaSecret,
		},
		{
			name:     "forgejo/only the Gitea header",
			provider: "forgejo",
			body:     giteaBody,
			headers:  map[string]string{"X-Gitea-Signature": giteaSig},
			secret:   giteaSecret,
			wantErr:  errNoAuth,
		},
		{
			name:     "gogs/go-playground vector",
			provider: "gogs",
			body:     gogsBody,
			headers:  map[string]string{"X-Gogs-Signature": "83d4163fb936904aeb9ffd6ce22cf86e4b36273b2e1c63a57f5a6ddc371ce3ba"},
			secret:   "sampleToken!",
		},
		{
			name:     "gogs/tampered body",
			provider: "gogs",
			body:     gogsBody,
			tamper:   true,
			headers:  map[string]string{"X-Gogs-Signature": "83d4163fb936904aeb9ffd6ce22cf86e4b36273b2e1c63a57f5a6ddc371ce3ba"},
			secret:   "sampleToken!",
			wantErr:  errBadSig,
		},
		{
			name:     "gitlab/go-playground token",
			provider: "gitlab",
			body:     gitlabBody,
			headers:  map[string]string{"X-Gitlab-Token": "sampleToken!"},
			secret:   "sampleToken!",
		},
		{
			name:     "gitlab/go-playground wrong token",
			provider: "gitlab",
			body:     gitlabBody,
			headers:  map[string]string{"X-Gitlab-Token": "badsampleToken!!"},
			secret:   "sampleToken!",
			wantErr:  errBadAuth,
		},
		{
			name:     "gitlab/go-scm token",
			provider: "gitlab",
			body:     gitlabBody,
			headers:  map[string]string{"X-Gitlab-Token": "topsecret"},
			secret:   "topsecret",
		},
		{
			name:     "gitlab/go-scm wrong token",
			provider: "gitlab",
			body:     gitlabBody,
			headers:  map[string]string{"X-Gitlab-Token": "void"},
			secret:   "topsecret",
			wantErr:  errBadAuth,
		},
		{
			name:     "gitlab/no token",
			provider: "gitlab",
			body:     gitlabBody,
			secret:   "topsecret",
			wantErr:  errNoAuth,
		},
		{
			// Bitbucket Cloud and Data Center sign alike: sha256=<hex> under
			// GitHub's legacy SHA-1 header name. The vector is Data Center's.
			name:     "bitbucket/go-playground Data Center vector",
			provider: "bitbucket",
			body:     bitbucketBody,
			headers:  map[string]string{"X-Hub-Signature": "sha256=8a60f7487d167f55886df87d4077192035d76f76a8e0b3a48fd8ae8cad25f391"},
			secret:   "secret",
		},
		{
			name:     "bitbucket/tampered body",
			provider: "bitbucket",
			body:     bitbucketBody,
			tamper:   true,
			headers:  map[string]string{"X-Hub-Signature": "sha256=8a60f7487d167f55886df87d4077192035d76f76a8e0b3a48fd8ae8cad25f391"},
			secret:   "secret",
			wantErr:  errBadSig,
		},
		{
			name:     "bitbucket/signature without the sha256= prefix",
			provider: "bitbucket",
			body:     bitbucketBody,
			headers:  map[string]string{"X-Hub-Signature": "8a60f7487d167f55886df87d4077192035d76f76a8e0b3a48fd8ae8cad25f391"},
			secret:   "secret",
			wantErr:  errBadSigForm,
		},
	}
	ps := providers()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := ps[tt.provider]
			if !ok {
				t.Fatalf("no provider %q", tt.provider)
			}
			body, err := os.ReadFile(filepath.Join("testdata", tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.tamper {
				body = bytes.Clone(body)
				body[len(body)/2] ^= 0x01
			}
			r := httptest.NewRequest("POST", "/hooks/"+tt.provider, bytes.NewReader(body))
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			err = p.auth(r, body, tt.secret)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("rejected: %v", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
		})
	}
}
