package gitsrc_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge/gitsrc"
)

// TestSync drives one project's life over each transport: first sync, an
// older commit, a sub-directory, commits that must be refused, changed paths,
// a force-push and a deleted branch.
func TestSync(t *testing.T) {
	transports := []struct {
		name string
		url  func(t *testing.T, u *upstream) string
	}{
		{name: "file URL", url: func(t *testing.T, u *upstream) string { return "file://" + u.bare }},
		{name: "local path", url: func(t *testing.T, u *upstream) string { return u.bare }},
		{name: "git daemon", url: func(t *testing.T, u *upstream) string { return gitDaemon(t, u.base) + "/app.git" }},
		{name: "smart HTTP with token", url: func(t *testing.T, u *upstream) string {
			return smartHTTP(t, u.base, "x-access-token", "s3cret") + "/app.git"
		}},
	}
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testLifecycle(t, tt.url)
		})
	}
}

func testLifecycle(t *testing.T, remoteURL func(t *testing.T, u *upstream) string) {
	u := newUpstream(t)
	c1 := u.commit("one", map[string]string{"compose.yaml": "v1", "web/Dockerfile": "FROM scratch\n", "deploy/compose.yaml": "d1"})
	c2 := u.commit("two", map[string]string{"compose.yaml": "v2", "web/index.html": "hello"})
	u.git("push", "--quiet", "origin", "main")
	u.git("checkout", "--quiet", "-b", "feature")
	cf := u.commit("feature", map[string]string{"api/main.go": "package main"})
	u.git("push", "--quiet", "origin", "feature")
	u.git("checkout", "--quiet", "main")

	ctx := t.Context()
	root := t.TempDir()
	c := gitsrc.New(gitsrc.Config{Root: root, Timeout: 20 * time.Second})
	src := gitsrc.Source{URL: remoteURL(t, u), Branch: "main"}
	cred := gitsrc.Credentials{Token: "s3cret"}
	dir := filepath.Join(root, "app")

	// First sync: the tip.
	co, err := c.Sync(ctx, "app", src, cred, "")
	if err != nil {
		t.Fatalf("first sync: %v", err)
	}
	if want := (gitsrc.Checkout{Dir: dir, Commit: c2}); co != want {
		t.Fatalf("first sync = %+v, want %+v", co, want)
	}
	wantFile(t, dir, "compose.yaml", "v2")

	// An older commit on the branch; untracked files (a bind mount's data) stay.
	if err := os.WriteFile(filepath.Join(dir, "data.db"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	co, err = c.Sync(ctx, "app", src, cred, c1)
	if err != nil {
		t.Fatalf("sync to older commit: %v", err)
	}
	if want := (gitsrc.Checkout{Dir: dir, Commit: c1, Previous: c2}); co != want {
		t.Fatalf("sync to older commit = %+v, want %+v", co, want)
	}
	wantFile(t, dir, "compose.yaml", "v1")
	wantFile(t, dir, "web/index.html", "")
	wantFile(t, dir, "data.db", "keep")

	// An abbreviated SHA and a sub-directory.
	sub := src
	sub.Path = "deploy"
	co, err = c.Sync(ctx, "app", sub, cred, c2[:10])
	if err != nil {
		t.Fatalf("sync with path: %v", err)
	}
	if want := (gitsrc.Checkout{Dir: filepath.Join(dir, "deploy"), Commit: c2, Previous: c1}); co != want {
		t.Fatalf("sync with path = %+v, want %+v", co, want)
	}
	wantFile(t, co.Dir, "compose.yaml", "d1")

	// Refusals leave the checkout where it was.
	missing := src
	missing.Path = "nowhere"
	refusals := []struct {
		name   string
		src    gitsrc.Source
		commit string
		want   error
		text   string
	}{
		{name: "commit on another branch", src: src, commit: cf, want: gitsrc.ErrNotOnBranch},
		{name: "no such commit", src: src, commit: strings.Repeat("0123456789", 4), want: gitsrc.ErrNoSuchCommit},
		{name: "not a commit name", src: src, commit: "HEAD~1", want: gitsrc.ErrNoSuchCommit},
		{name: "compose directory missing", src: missing, commit: c1, text: `no directory "nowhere"`},
	}
	for _, r := range refusals {
		_, err := c.Sync(ctx, "app", r.src, cred, r.commit)
		if err == nil || r.want != nil && !errors.Is(err, r.want) || !strings.Contains(err.Error(), r.text) {
			t.Errorf("%s: err = %v, want %v %q", r.name, err, r.want, r.text)
		}
	}
	if head := git(t, dir, "rev-parse", "HEAD"); head != c2 {
		t.Errorf("after refusals HEAD = %s, want %s still", head, c2)
	}

	// Changed paths between two commits, and since no commit at all.
	paths, err := c.ChangedPaths(ctx, "app", c1, c2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"compose.yaml", "web/index.html"}; !slices.Equal(paths, want) {
		t.Errorf("ChangedPaths(c1, c2) = %q, want %q", paths, want)
	}
	if !gitsrc.AnyUnder(paths, "web") || gitsrc.AnyUnder(paths, "deploy") {
		t.Errorf("AnyUnder(%q): web should be changed, deploy not", paths)
	}
	all, err := c.ChangedPaths(ctx, "app", "", c1)
	if want := []string{"compose.yaml", "deploy/compose.yaml", "web/Dockerfile"}; err != nil || !slices.Equal(all, want) {
		t.Errorf(`ChangedPaths("", c1) = %q, %v; want %q`, all, err, want)
	}

	// A force-push removes c2, the running commit.
	u.git("reset", "--quiet", "--hard", c1)
	c3 := u.commit("three", map[string]string{"compose.yaml": "v3"})
	u.git("push", "--quiet", "--force", "origin", "main")
	tip, err := c.Fetch(ctx, "app", src, cred)
	if err != nil || tip != c3 {
		t.Fatalf("fetch after force-push = %s, %v; want %s", tip, err, c3)
	}
	for _, o := range []struct {
		commit string
		want   bool
	}{{c2, false}, {c1, true}, {c3, true}, {cf, false}} {
		if on, err := c.OnBranch(ctx, "app", "main", o.commit); err != nil || on != o.want {
			t.Errorf("OnBranch(%s) = %v, %v; want %v", o.commit[:7], on, err, o.want)
		}
	}
	if _, err := c.Sync(ctx, "app", src, cred, c2); !errors.Is(err, gitsrc.ErrNotOnBranch) {
		t.Errorf("sync to force-pushed-away commit: err = %v, want ErrNotOnBranch", err)
	}

	// A deleted branch, fetched once before.
	gone := src
	gone.Branch = "feature"
	if tip, err := c.Fetch(ctx, "app", gone, cred); err != nil || tip != cf {
		t.Fatalf("fetch feature = %s, %v; want %s", tip, err, cf)
	}
	if on, err := c.OnBranch(ctx, "app", "feature", cf); !on || err != nil {
		t.Errorf("OnBranch(feature, cf) = %v, %v; want true", on, err)
	}
	u.git("push", "--quiet", "origin", ":feature")
	if _, err := c.Fetch(ctx, "app", gone, cred); !errors.Is(err, gitsrc.ErrNoSuchBranch) {
		t.Errorf("fetch of deleted branch: err = %v, want ErrNoSuchBranch", err)
	}
	if on, err := c.OnBranch(ctx, "app", "feature", cf); on || !errors.Is(err, gitsrc.ErrNoSuchBranch) {
		t.Errorf("OnBranch of deleted branch = %v, %v; want ErrNoSuchBranch", on, err)
	}
}

// wantFile checks a file's content; "" wants no file.
func wantFile(t *testing.T, dir, name, want string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	switch {
	case want == "" && !errors.Is(err, os.ErrNotExist):
		t.Errorf("%s: want no file, read %q, %v", name, b, err)
	case want != "" && (err != nil || string(b) != want):
		t.Errorf("%s = %q, %v; want %q", name, b, err, want)
	}
}

// TestSyncConcurrent runs syncs of one project at once: the per-project lock
// must keep them from colliding on git's own lock files.
func TestSyncConcurrent(t *testing.T) {
	u := newUpstream(t)
	c1 := u.commit("one", map[string]string{"compose.yaml": "v1"})
	c2 := u.commit("two", map[string]string{"compose.yaml": "v2"})
	u.git("push", "--quiet", "origin", "main")
	c := gitsrc.New(gitsrc.Config{Root: t.TempDir()})
	src := gitsrc.Source{URL: "file://" + u.bare, Branch: "main"}

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = c.Sync(t.Context(), "app", src, gitsrc.Credentials{}, []string{c1, c2}[i%2])
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestUserWorkingCopyUntouched puts Root inside a user's working copy: forge's
// checkout must be its own repository, and the user's stays as it was.
func TestUserWorkingCopyUntouched(t *testing.T) {
	u := newUpstream(t)
	u.commit("one", map[string]string{"compose.yaml": "v1"})
	u.git("push", "--quiet", "origin", "main")
	head := u.git("rev-parse", "HEAD")
	c := gitsrc.New(gitsrc.Config{Root: filepath.Join(u.work, "forge", "checkouts")})
	if _, err := c.Sync(t.Context(), "app", gitsrc.Source{URL: u.bare, Branch: "main"}, gitsrc.Credentials{}, ""); err != nil {
		t.Fatal(err)
	}
	if got := u.git("rev-parse", "HEAD"); got != head {
		t.Errorf("user's HEAD moved to %s", got)
	}
	if got := u.git("status", "--porcelain", "--untracked-files=normal"); got != "?? forge/" {
		t.Errorf("user's status = %q, want only the untracked forge/ directory", got)
	}
	if got := u.git("config", "--get-all", "remote.origin.url"); got != u.bare {
		t.Errorf("user's remote = %q", got)
	}
}

// TestInvalidInput refuses names and paths that could escape Root or reach
// git as options, before anything is written.
func TestInvalidInput(t *testing.T) {
	good := gitsrc.Source{URL: "file:///srv/app.git", Branch: "main"}
	with := func(f func(*gitsrc.Source)) gitsrc.Source { s := good; f(&s); return s }
	tests := []struct {
		name    string
		project string
		src     gitsrc.Source
		commit  string
		text    string // in the error, so it is refused for the right reason
	}{
		{name: "parent project", project: "..", src: good, text: `invalid project name`},
		{name: "nested project", project: "a/../../b", src: good, text: `invalid project name`},
		{name: "hidden project", project: ".git", src: good, text: `invalid project name`},
		{name: "upper-case project", project: "App", src: good, text: `invalid project name`},
		{name: "empty project", project: "", src: good, text: `invalid project name`},
		{name: "option-like URL", project: "app", src: with(func(s *gitsrc.Source) { s.URL = "--upload-pack=touch /tmp/x" }), text: `starts with "-"`},
		{name: "transport helper", project: "app", src: with(func(s *gitsrc.Source) { s.URL = "ext::sh -c touch% /tmp/x" }), text: `transport helper`},
		{name: "relative path URL", project: "app", src: with(func(s *gitsrc.Source) { s.URL = "../app.git" }), text: `absolute path`},
		{name: "unknown scheme", project: "app", src: with(func(s *gitsrc.Source) { s.URL = "ftp://127.0.0.1/app.git" }), text: `scheme "ftp"`},
		{name: "option-like branch", project: "app", src: with(func(s *gitsrc.Source) { s.Branch = "--all" }), text: `invalid branch name`},
		{name: "refspec branch", project: "app", src: with(func(s *gitsrc.Source) { s.Branch = "main:refs/heads/x" }), text: `invalid branch name`},
		{name: "path out of repository", project: "app", src: with(func(s *gitsrc.Source) { s.Path = "../../etc" }), text: `invalid path`},
		{name: "absolute path", project: "app", src: with(func(s *gitsrc.Source) { s.Path = "/etc" }), text: `invalid path`},
		{name: "revision expression", project: "app", src: good, commit: "main~1", text: `not a hexadecimal commit name`},
		{name: "option-like commit", project: "app", src: good, commit: "--all", text: `not a hexadecimal commit name`},
	}
	root := filepath.Join(t.TempDir(), "checkouts")
	c := gitsrc.New(gitsrc.Config{Root: root})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Sync(t.Context(), tt.project, tt.src, gitsrc.Credentials{}, tt.commit); err == nil || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err = %v, want one saying %q", err, tt.text)
			}
			if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Root was created: %v", err)
			}
		})
	}
}

// TestForeignDirectory leaves alone a project directory forge did not make.
func TestForeignDirectory(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "app", "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := gitsrc.New(gitsrc.Config{Root: root})
	_, err := c.Sync(t.Context(), "app", gitsrc.Source{URL: "/srv/app.git", Branch: "main"}, gitsrc.Credentials{}, "")
	if err == nil || !strings.Contains(err.Error(), "something other than a forge checkout") {
		t.Fatalf("err = %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "app"))
	if len(entries) != 1 {
		t.Errorf("directory now holds %d entries", len(entries))
	}
}
