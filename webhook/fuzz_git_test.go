package webhook

import (
	"net/http"
	"strings"
	"testing"

	"github.com/docker-forge/docker-forge"
)

// checkGitEvent checks what every git event promises, whatever the body it
// came from: an owner/name repository, a full ref that is a branch or a
// tag and agrees with the event's branch and tag, a full commit SHA, and no
// delivery (the server fills that in from the provider's header).
func checkGitEvent(t *testing.T, e forge.Event, provider string) {
	t.Helper()
	if e.Kind != forge.KindGit || e.Provider != provider {
		t.Errorf("event %+v: kind %q provider %q", e, e.Kind, e.Provider)
	}
	if e.Repository == "" || checkRepoPath(e.Repository) != nil {
		t.Errorf("event %+v: repository %q is not an owner/name path", e, e.Repository)
	}
	if !commitHex.MatchString(e.Commit) || isZeroCommit(e.Commit) {
		t.Errorf("event %+v: commit %q is not a full SHA", e, e.Commit)
	}
	if !strings.HasPrefix(e.Ref, "refs/") || checkRefFormat(e.Ref) != nil {
		t.Errorf("event %+v: ref %q is not a valid full ref", e, e.Ref)
	}
	switch {
	case e.Branch != "" && e.Tag == "":
		if e.Ref != "refs/heads/"+e.Branch {
			t.Errorf("event %+v: branch does not match ref", e)
		}
	case e.Tag != "" && e.Branch == "":
		if e.Ref != "refs/tags/"+e.Tag {
			t.Errorf("event %+v: tag does not match ref", e)
		}
	default:
		t.Errorf("event %+v: exactly one of branch and tag must be set", e)
	}
	if e.Digest != "" || e.Delivery != "" {
		t.Errorf("event %+v: a parse function sets no digest or delivery", e)
	}
}

// fuzzGit runs a git provider's parse function on a fuzzed body, event
// header value and content type, and checks its promises.
func fuzzGit(t *testing.T, parse func(http.Header, []byte) ([]forge.Event, string, error), provider, header string, body []byte, event string, form bool) {
	h := http.Header{}
	h.Set(header, event)
	if form {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	events, ignored, err := parse(h, body)
	checkParseContract(t, events, ignored, err)
	for _, e := range events {
		checkGitEvent(t, e, provider)
	}
	if strings.TrimSpace(event) == "" && err == nil {
		t.Errorf("no %s header, yet no error", header)
	}
}

func FuzzParseGitHub(f *testing.F) {
	addTestdataSeeds(f, "github", func(b []byte) { f.Add(b, "push", false) })
	f.Add([]byte(`{"zen": "Design for failure.", "hook_id": 1}`), "ping", false)
	f.Add([]byte(`{"ref": "v1", "ref_type": "tag", "repository": {"full_name": "a/b"}}`), "create", false)
	f.Add([]byte(`payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%2C%22after%22%3A%2201234567890123456789012345678901234567ab%22%2C%22repository%22%3A%7B%22full_name%22%3A%22a%2Fb%22%7D%7D`), "push", true)
	f.Add([]byte(`{"ref": "refs/tags/v1", "after": "0123456789012345678901234567890123456789", "head_commit": {"id": ""}, "repository": {"full_name": "a/b"}}`), "push", false)
	f.Add([]byte(`{"ref": "refs/heads/a", "after": "0000000000000000000000000000000000000000000000000000000000000000", "repository": {"full_name": "a/b"}}`), "push", false)
	f.Fuzz(func(t *testing.T, body []byte, event string, form bool) {
		fuzzGit(t, parseGitHub, "github", "X-GitHub-Event", body, event, form)
	})
}

func FuzzParseGitLab(f *testing.F) {
	addTestdataSeeds(f, "gitlab", func(b []byte) {
		f.Add(b, "Push Hook")
		f.Add(b, "System Hook")
	})
	f.Add([]byte(`{"object_kind": "tag_push", "ref": "refs/tags/v1", "after": "0123456789012345678901234567890123456789", "checkout_sha": null, "project": {"path_with_namespace": "a/b/c"}}`), "Tag Push Hook")
	f.Add([]byte(`{"event_name": "repository_update", "project": {"path_with_namespace": "a/b"}}`), "System Hook")
	f.Fuzz(func(t *testing.T, body []byte, event string) {
		fuzzGit(t, parseGitLab, "gitlab", "X-Gitlab-Event", body, event, false)
	})
}

func FuzzParseGitea(f *testing.F) {
	for _, provider := range []string{"gitea", "forgejo", "gogs"} {
		addTestdataSeeds(f, provider, func(b []byte) { f.Add(b, "push", false) })
	}
	f.Add([]byte(`{"ref": "main", "ref_type": "branch", "repository": {"full_name": "a/b"}}`), "create", false)
	f.Add([]byte(`{"ref": "refs/tags/v1", "after": "0123456789012345678901234567890123456789", "head_commit": null, "repository": {"full_name": "a/b"}}`), "push", false)
	f.Fuzz(func(t *testing.T, body []byte, event string, form bool) {
		fuzzGit(t, parseGitea, "gitea", "X-Gitea-Event", body, event, form)
	})
}

func FuzzParseBitbucket(f *testing.F) {
	addTestdataSeeds(f, "bitbucket", func(b []byte) { f.Add(b, "repo:push") })
	f.Add([]byte(`{"push": {"changes": [{"new": null, "old": null}]}, "repository": {"full_name": "a/b"}}`), "repo:push")
	f.Add([]byte(`{"push": {"changes": [{"new": {"type": "bookmark", "name": "x", "target": {"hash": "0123456789012345678901234567890123456789"}}}]}, "repository": {"full_name": "a/b"}}`), "repo:push")
	f.Add([]byte(`{"push": {"changes": []}, "repository": {"full_name": "a/b"}}`), "repo:push")
	f.Fuzz(func(t *testing.T, body []byte, event string) {
		fuzzGit(t, parseBitbucket, "bitbucket", "X-Event-Key", body, event, false)
	})
}
