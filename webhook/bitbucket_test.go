package webhook

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestParseBitbucketChanges covers the shapes of push.changes that the
// testdata payloads do not.
func TestParseBitbucketChanges(t *testing.T) {
	const hash = "0123456789abcdef0123456789abcdef01234567"
	branch := func(name string) string {
		return fmt.Sprintf(`{"type": "branch", "name": %q, "target": {"hash": %q}}`, name, hash)
	}
	body := func(changes ...string) string {
		return `{"push": {"changes": [` + strings.Join(changes, ", ") + `]}, "repository": {"full_name": "acme/shop"}}`
	}
	deleted := func(name string) string { return `{"old": ` + branch(name) + `, "new": null}` }
	tests := []struct {
		name        string
		body        string
		wantRefs    []string
		wantIgnored string
		wantErr     bool
	}{
		{
			name:     "branch update",
			body:     body(`{"old": ` + branch("main") + `, "new": ` + branch("main") + `}`),
			wantRefs: []string{"refs/heads/main"},
		},
		{
			name:        "no changes",
			body:        body(),
			wantIgnored: "push without changes",
		},
		{
			name:        "Mercurial bookmark",
			body:        body(`{"new": {"type": "bookmark", "name": "x", "target": {"hash": "` + hash + `"}}}`),
			wantIgnored: "a change that is neither a branch nor a tag",
		},
		{
			name:        "five deletions",
			body:        body(deleted("a"), deleted("b"), deleted("c"), deleted("d"), deleted("e")),
			wantIgnored: "branch a deleted, branch b deleted, branch c deleted and 2 more",
		},
		{
			name:     "deletion between two pushes",
			body:     body(`{"new": `+branch("a")+`}`, deleted("b"), `{"new": `+branch("c")+`}`),
			wantRefs: []string{"refs/heads/a", "refs/heads/c"},
		},
		{name: "neither new nor old", body: body(`{"new": null, "old": null}`), wantErr: true},
		{name: "branch without a name", body: body(`{"new": ` + branch("") + `}`), wantErr: true},
		{name: "branch name git forbids", body: body(`{"new": ` + branch("a..b") + `}`), wantErr: true},
		{name: "no push object", body: `{"repository": {"full_name": "acme/shop"}}`, wantErr: true},
		{name: "no repository", body: `{"push": {"changes": []}}`, wantErr: true},
		{name: "changes not an array", body: `{"push": {"changes": {}}, "repository": {"full_name": "acme/shop"}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"X-Event-Key": {"repo:push"}}
			events, ignored, err := parseBitbucket(h, []byte(tt.body))
			checkParseContract(t, events, ignored, err)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if ignored != tt.wantIgnored {
				t.Errorf("ignored = %q, want %q", ignored, tt.wantIgnored)
			}
			var refs []string
			for _, e := range events {
				checkGitEvent(t, e, "bitbucket")
				refs = append(refs, e.Ref)
			}
			if strings.Join(refs, " ") != strings.Join(tt.wantRefs, " ") {
				t.Errorf("refs = %v, want %v", refs, tt.wantRefs)
			}
		})
	}
}
