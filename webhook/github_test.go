package webhook

import (
	"net/http"
	"strings"
	"testing"
)

func TestSplitRef(t *testing.T) {
	tests := []struct {
		ref     string
		branch  string
		tag     string
		wantErr bool
	}{
		{ref: "refs/heads/main", branch: "main"},
		{ref: "refs/heads/feature/cart", branch: "feature/cart"},
		{ref: "refs/heads/fix-ünïcode", branch: "fix-ünïcode"},
		{ref: "refs/tags/v1.2.0", tag: "v1.2.0"},
		{ref: "refs/tags/release/2025-03", tag: "release/2025-03"},
		{ref: "refs/notes/commits"},
		{ref: "main", wantErr: true},
		{ref: "heads/main", wantErr: true},
		{ref: "", wantErr: true},
		{ref: "refs/heads/", wantErr: true},
		{ref: "refs/heads/a..b", wantErr: true},
		{ref: "refs/heads/a//b", wantErr: true},
		{ref: "refs/heads/.hidden", wantErr: true},
		{ref: "refs/heads/x.lock", wantErr: true},
		{ref: "refs/heads/x.", wantErr: true},
		{ref: "refs/heads/a b", wantErr: true},
		{ref: "refs/heads/a\tb", wantErr: true},
		{ref: "refs/heads/a\nb", wantErr: true},
		{ref: "refs/heads/a~1", wantErr: true},
		{ref: "refs/heads/a^", wantErr: true},
		{ref: "refs/heads/a:b", wantErr: true},
		{ref: "refs/heads/a?", wantErr: true},
		{ref: "refs/heads/a*", wantErr: true},
		{ref: "refs/heads/a[1]", wantErr: true},
		{ref: "refs/heads/a\\b", wantErr: true},
		{ref: "refs/heads/a@{1}", wantErr: true},
		{ref: "refs/heads/\xff", wantErr: true},
		{ref: "refs/heads/" + strings.Repeat("a", 1100), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			branch, tag, err := splitRef(tt.ref)
			if (err != nil) != tt.wantErr {
				t.Fatalf("splitRef(%q) error = %v, want error %v", tt.ref, err, tt.wantErr)
			}
			if branch != tt.branch || tag != tt.tag {
				t.Errorf("splitRef(%q) = %q, %q; want %q, %q", tt.ref, branch, tag, tt.branch, tt.tag)
			}
		})
	}
}

func TestCheckRepoPath(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{"Codertocat/Hello-World", true},
		{"6543/oxiduct", true},
		{"group1/group2/group3/grp2repo", true},
		{"acme/shop.web_2", true},
		{"", false},
		{"shop", false},
		{"/shop", false},
		{"acme/", false},
		{"acme//shop", false},
		{"acme/..", false},
		{"acme/shop web", false},
		{"acme/shop\n", false},
		{"acme/ünïcode", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if err := checkRepoPath(tt.path); (err == nil) != tt.ok {
				t.Errorf("checkRepoPath(%q) = %v, want ok %v", tt.path, err, tt.ok)
			}
		})
	}
}

func TestCheckCommit(t *testing.T) {
	tests := []struct {
		commit string
		ok     bool
	}{
		{"199eddf46df50de8d02e99bf1c5fdb4101338224", true},
		{"c7ba3cb6fb0fa0300543ba4da27c50581c6f740a3eef58845f90b477b6dbec9a", true},
		{"199EDDF46DF50DE8D02E99BF1C5FDB4101338224", false},
		{"199eddf", false},
		{"199eddf46df50de8d02e99bf1c5fdb41013382245", false},
		{"g99eddf46df50de8d02e99bf1c5fdb4101338224", false},
		{"sha256:c7ba3cb6fb0fa0300543ba4da27c50581c6f740a3eef58845f90b477b6dbec9a", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.commit, func(t *testing.T) {
			if err := checkCommit(tt.commit); (err == nil) != tt.ok {
				t.Errorf("checkCommit(%q) = %v, want ok %v", tt.commit, err, tt.ok)
			}
		})
	}
}

// TestParseGitHubEdges covers what the testdata payloads do not: the
// deleted flag alone, head_commit on a branch, odd headers and bodies.
func TestParseGitHubEdges(t *testing.T) {
	const (
		after = "0123456789abcdef0123456789abcdef01234567"
		other = "89abcdef0123456789abcdef0123456789abcdef"
	)
	tests := []struct {
		name        string
		event       string
		contentType string
		body        string
		wantCommit  string
		wantIgnored string
		wantErr     bool
	}{
		{
			name:       "head_commit on a branch does not replace after",
			event:      "push",
			body:       `{"ref": "refs/heads/main", "after": "` + after + `", "head_commit": {"id": "` + other + `"}, "repository": {"full_name": "a/b"}}`,
			wantCommit: after,
		},
		{
			name:       "tag without head_commit keeps after",
			event:      "push",
			body:       `{"ref": "refs/tags/v1", "after": "` + after + `", "head_commit": null, "repository": {"full_name": "a/b"}}`,
			wantCommit: after,
		},
		{
			name:    "tag with a bad head_commit",
			event:   "push",
			body:    `{"ref": "refs/tags/v1", "after": "` + after + `", "head_commit": {"id": "abc"}, "repository": {"full_name": "a/b"}}`,
			wantErr: true,
		},
		{
			name:        "deleted flag with a non-zero after",
			event:       "push",
			body:        `{"ref": "refs/heads/old", "after": "` + after + `", "deleted": true, "repository": {"full_name": "a/b"}}`,
			wantIgnored: "branch old deleted",
		},
		{
			name:        "sha256 zero after",
			event:       "push",
			body:        `{"ref": "refs/tags/v1", "after": "` + strings.Repeat("0", 64) + `", "repository": {"full_name": "a/b"}}`,
			wantIgnored: "tag v1 deleted",
		},
		{
			name:        "event header with surrounding space",
			event:       " push ",
			body:        `{"ref": "refs/heads/main", "after": "` + after + `", "repository": {"full_name": "a/b"}}`,
			wantCommit:  after,
			contentType: "application/json; charset=utf-8",
		},
		{
			name:        "other event named with control characters",
			event:       "check_run\x01",
			body:        `{}`,
			wantIgnored: "not a push event: check_run?",
		},
		{
			name:        "ping for an App hook, without repository",
			event:       "ping",
			body:        `{"zen": "Keep it logically awesome.", "hook_id": 20081052}`,
			wantIgnored: "ping",
		},
		{
			name:    "ping with a body that is not JSON",
			event:   "ping",
			body:    `zen`,
			wantErr: true,
		},
		{name: "null body", event: "push", body: `null`, wantErr: true},
		{name: "array body", event: "push", body: `[]`, wantErr: true},
		{name: "ref of the wrong type", event: "push", body: `{"ref": 1}`, wantErr: true},
		{
			name:        "form without a payload field",
			event:       "push",
			contentType: "application/x-www-form-urlencoded",
			body:        `ref=refs%2Fheads%2Fmain`,
			wantErr:     true,
		},
		{
			name:        "JSON labelled as a form, as curl -d sends it",
			event:       "push",
			contentType: "application/x-www-form-urlencoded",
			body:        `{"ref": "refs/heads/main", "after": "` + after + `", "repository": {"full_name": "a/b"}}`,
			wantCommit:  after,
		},
		{
			name:        "form with a bad escape",
			event:       "push",
			contentType: "application/x-www-form-urlencoded",
			body:        `payload=%zz`,
			wantErr:     true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"X-Github-Event": {tt.event}}
			if tt.contentType != "" {
				h.Set("Content-Type", tt.contentType)
			}
			events, ignored, err := parseGitHub(h, []byte(tt.body))
			checkParseContract(t, events, ignored, err)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if ignored != tt.wantIgnored {
				t.Errorf("ignored = %q, want %q", ignored, tt.wantIgnored)
			}
			if tt.wantCommit != "" {
				if len(events) != 1 || events[0].Commit != tt.wantCommit {
					t.Fatalf("events = %+v, want one with commit %s", events, tt.wantCommit)
				}
				checkGitEvent(t, events[0], "github")
			}
		})
	}
}

func TestCleanCloneURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://github.com/acme/shop.git", "https://github.com/acme/shop.git"},
		{"http://try.gitea.io/gogits/hello-world.git", "http://try.gitea.io/gogits/hello-world.git"},
		{"ssh://git@gitlab.example.com:2222/acme/shop.git", "ssh://git@gitlab.example.com:2222/acme/shop.git"},
		{"git@github.com:acme/shop.git", "git@github.com:acme/shop.git"},
		{"file:///etc/passwd", ""},
		{"ext::sh -c touch% /tmp/pwned", ""},
		{"https://github.com/acme/shop.git\nX: y", ""},
		{"", ""},
		{"/srv/git/shop.git", ""},
	}
	for _, tt := range tests {
		if got := cleanCloneURL(tt.in); got != tt.want {
			t.Errorf("cleanCloneURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
