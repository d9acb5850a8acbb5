package dispatch

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/gitsrc"
)

func TestMatchGit(t *testing.T) {
	src := &forge.Source{Repository: "https://git.example.com/acme/shop.git", Branch: "main"}
	p := forge.Project{Ref: forge.ProjectRef{Name: "shop"}, Source: src}
	tagged := p
	tagged.Source = &forge.Source{Repository: src.Repository, Branch: "main", Tags: true}
	push := func(mod func(*forge.Event)) forge.Event {
		ev := forge.Event{Kind: forge.KindGit, Provider: "github", Repository: "acme/shop", Ref: "refs/heads/main", Branch: "main",
			Commit: strings.Repeat("a", 40), CloneURL: "https://git.example.com/acme/shop.git"}
		if mod != nil {
			mod(&ev)
		}
		return ev
	}
	tests := []struct {
		name    string
		p       forge.Project
		ev      forge.Event
		want    bool
		wantWhy string
	}{
		{"same repository and branch", p, push(nil), true, ""},
		{"clone URL over ssh, same owner/name", p, push(func(e *forge.Event) { e.CloneURL = "git@git.example.com:acme/shop.git" }), true, ""},
		{"no clone URL, owner/name at the end of the path", p, push(func(e *forge.Event) { e.CloneURL = "" }), true, ""},
		{"owner/name differs only in case", p, push(func(e *forge.Event) { e.CloneURL, e.Repository = "", "Acme/Shop" }), true, ""},
		{"another branch", p, push(func(e *forge.Event) { e.Branch, e.Ref = "dev", "refs/heads/dev" }), false, "shop follows branch main, not dev"},
		{"a tag push, not configured", p, push(func(e *forge.Event) { e.Branch, e.Tag, e.Ref = "", "v1.2.0", "refs/tags/v1.2.0" }), false, "tag v1.2.0 is not deployed"},
		{"a tag push, configured", tagged, push(func(e *forge.Event) { e.Branch, e.Tag, e.Ref = "", "v1.2.0", "refs/tags/v1.2.0" }), true, ""},
		{"another repository", p, push(func(e *forge.Event) { e.Repository, e.CloneURL = "acme/blog", "https://git.example.com/acme/blog.git" }), false, ""},
		{"a repository whose name only ends the same", p, push(func(e *forge.Event) { e.Repository, e.CloneURL = "cme/shop", "" }), false, ""},
		{"a project without x-forge", forge.Project{Ref: forge.ProjectRef{Name: "plain"}}, push(nil), false, ""},
		{"no commit", p, push(func(e *forge.Event) { e.Commit = "" }), false, "names no commit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := matchGit(tt.p, tt.ev)
			if got != tt.want || !strings.Contains(why, tt.wantWhy) || (tt.wantWhy == "" && why != "") {
				t.Errorf("matchGit = %v, %q; want %v, %q", got, why, tt.want, tt.wantWhy)
			}
		})
	}
}

func TestRepoKey(t *testing.T) {
	for in, want := range map[string]string{
		"https://git.example.com/acme/shop.git":        "git.example.com/acme/shop",
		"https://user:token@git.example.com/acme/shop": "git.example.com/acme/shop",
		"ssh://git@git.example.com:2222/acme/shop.git": "git.example.com:2222/acme/shop",
		"git@git.example.com:acme/shop.git":            "git.example.com/acme/shop",
		"file:///srv/git/acme/shop.git":                "srv/git/acme/shop",
		"git://127.0.0.1:9418/acme/shop.git/":          "127.0.0.1:9418/acme/shop",
		"HTTPS://Git.Example.com/Acme/Shop.git":        "git.example.com/acme/shop",
		"":                                             "",
	} {
		if got := repoKey(in); got != want {
			t.Errorf("repoKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGitReasonNamesNoSecret(t *testing.T) {
	commit := strings.Repeat("c", 40)
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("sync: %w: fatal: bad object", gitsrc.ErrNoSuchCommit), "commit cccccccccccc does not exist in the repository"},
		{fmt.Errorf("sync: %w", gitsrc.ErrNotOnBranch), "commit cccccccccccc is not on branch main"},
		{fmt.Errorf("sync: %w", gitsrc.ErrNoSuchBranch), reasonNoBranch},
		{fmt.Errorf("fetch https://x-access-token:s3cret@git.example.com: %w", gitsrc.ErrUnreachable), reasonGitFetch},
		{errors.New("fatal: s3cret"), reasonGitFailed},
	} {
		got := gitReason(tt.err, commit, "main")
		if got != tt.want || strings.Contains(got, "s3cret") {
			t.Errorf("gitReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestLastGitDeployAndHelpers(t *testing.T) {
	hist := []forge.Deploy{
		{ID: 5, Status: forge.StatusFailed, Commit: "e"},
		{ID: 4, Status: forge.StatusSucceeded, Commit: "d"},
		{ID: 3, Status: forge.StatusSucceeded},
		{ID: 2, Status: forge.StatusSucceeded, Commit: "b"},
	}
	if got := lastGitDeploy(hist, 0); got.ID != 4 {
		t.Errorf("last git deploy = %d, want 4 (5 failed)", got.ID)
	}
	if got := lastGitDeploy(hist, 4); got.ID != 2 {
		t.Errorf("last git deploy but 4 = %d, want 2", got.ID)
	}
	if !isNewestSuccess(hist, 4) || isNewestSuccess(hist, 2) {
		t.Error("isNewestSuccess")
	}
	if got := builtTag("shop", "web", "0123456789abcdef0123"); got != "shop-web:0123456789ab" {
		t.Errorf("builtTag = %s", got)
	}
	if got := repoRoot("/data/checkouts/shop/deploy/prod", "deploy/prod/"); got != "/data/checkouts/shop" {
		t.Errorf("repoRoot = %s", got)
	}
	if got := repoRoot("/data/checkouts/shop", ""); got != "/data/checkouts/shop" {
		t.Errorf("repoRoot without path = %s", got)
	}
}
