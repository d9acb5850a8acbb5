package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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
		{"the same owner/name on another host", p, push(func(e *forge.Event) { e.CloneURL = "https://github.com/acme/shop.git" }), false, ""},
		{"a bare name without owner", p, push(func(e *forge.Event) { e.Repository, e.CloneURL = "shop", "" }), false, ""},
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
	for _, p := range []string{"", ".", "./", "/"} {
		if got := repoRoot("/data/checkouts/shop", p); got != "/data/checkouts/shop" {
			t.Errorf("repoRoot with path %q = %s", p, got)
		}
	}
	for _, p := range []string{"./deploy", "deploy//", "x/../deploy"} {
		if got := repoRoot("/data/checkouts/shop/deploy", p); got != "/data/checkouts/shop" {
			t.Errorf("repoRoot with path %q = %s", p, got)
		}
	}
}

// fakeGit is a repository's linear history as forge's checkouts see it.
type fakeGit struct {
	mu         sync.Mutex
	tip        string
	order      map[string]int         // on the branch, by push
	removed    map[string]bool        // taken out of the branch by a force-push
	changed    map[[2]string][]string // from, to -> paths
	checkedOut string
}

func newFakeGit() *fakeGit {
	return &fakeGit{order: map[string]int{}, removed: map[string]bool{}, changed: map[[2]string][]string{}}
}

func (g *fakeGit) Sync(ctx context.Context, project string, _ gitsrc.Source, _ gitsrc.Credentials, commit string, checks ...gitsrc.Check) (gitsrc.Checkout, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if commit == "" {
		commit = g.tip
	}
	if _, ok := g.order[commit]; !ok {
		return gitsrc.Checkout{}, fmt.Errorf("sync %s: %w", project, gitsrc.ErrNoSuchCommit)
	}
	ancestor := func(a, b string) (bool, error) {
		oa, okA := g.order[a]
		ob, okB := g.order[b]
		if !okA || !okB {
			return false, errors.New("bad object")
		}
		return !g.removed[a] && oa <= ob, nil
	}
	for _, check := range checks {
		if err := check(ctx, g.tip, commit, ancestor); err != nil {
			return gitsrc.Checkout{}, err
		}
	}
	prev := g.checkedOut
	g.checkedOut = commit
	return gitsrc.Checkout{Dir: "/data/checkouts/" + project, Commit: commit, Previous: prev}, nil
}

func (g *fakeGit) ChangedPaths(_ context.Context, _, from, to string) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changed[[2]string{from, to}], nil
}

// push makes commit the branch's tip, with paths changed since the tip before.
func (g *fakeGit) push(commit string, paths ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.changed[[2]string{g.tip, commit}] = paths
	g.order[commit] = len(g.order) + 1
	g.tip = commit
}

// TestGitDeployRebuildsOnlyWhatChanged drives git deploys against a fake
// checkout and engine: the first builds everything; later ones rebuild a
// service only when a file under its build context, its build definition,
// or its image is gone; a force-push that removed the running commit
// deploys nothing and puts the checkout back.
func TestGitDeployRebuildsOnlyWhatChanged(t *testing.T) {
	sha := func(c byte) string { return strings.Repeat(string(c), 40) }
	g := newFakeGit()
	e := newEnvConfig(t, Config{Git: g})
	src := &forge.Source{Repository: "https://git.example.com/acme/shop.git", Branch: "main"}
	var ref forge.ProjectRef
	model := func(apiHash string) {
		ref = e.eng.addProject("shop",
			forge.Service{Name: "web", Build: &forge.ServiceBuild{Context: "/data/checkouts/shop/web", Hash: "w1"}},
			forge.Service{Name: "api", Build: &forge.ServiceBuild{Context: "/data/checkouts/shop/api", Hash: apiHash}},
		)
		p := e.eng.projects["shop"]
		p.Source = src
		e.eng.projects["shop"] = p
	}
	model("a1")
	deploy := func(want ...string) forge.Deploy {
		t.Helper()
		d, err := e.d.Deploy(t.Context(), Request{Ref: ref})
		if err != nil {
			t.Fatalf("deploy: %v (%+v)", err, d)
		}
		if got := e.eng.builds(); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("deploy at %s built %v, want %v", shortSHA(d.Commit), got, want)
		}
		return d
	}

	g.push(sha('1'))
	d1 := deploy("shop-api:111111111111", "shop-web:111111111111")
	if d1.Commit != sha('1') || d1.PreviousCommit != "" {
		t.Errorf("first deploy commits %q, previous %q", d1.Commit, d1.PreviousCommit)
	}
	api1 := e.eng.running["shop"]["api"].ContainerID

	g.push(sha('2'), "web/index.html", "README.md")
	d2 := deploy("shop-web:222222222222")
	if api, _ := d2.Service("api"); api.Image != "shop-api:111111111111" || api.Changed || e.eng.running["shop"]["api"].ContainerID != api1 {
		t.Errorf("api was rebuilt or recreated though nothing under api/ changed: %+v", api)
	}
	if web, _ := d2.Service("web"); !web.Built || !web.Changed || web.Digest == "" || web.Digest == web.Previous {
		t.Errorf("web after its change: %+v", web)
	}
	if d2.PreviousCommit != sha('1') {
		t.Errorf("previous commit %q, want %s", d2.PreviousCommit, sha('1'))
	}

	g.push(sha('3')) // nothing changed in the files, but api's build section did
	model("a2")
	deploy("shop-api:333333333333")

	g.push(sha('4'))
	e.eng.pruneImage("shop-web:222222222222")
	deploy("shop-web:444444444444")

	// A push after a force-push took the running commit 4 out of main.
	e.startRun(t)
	g.mu.Lock()
	g.removed[sha('4')] = true
	g.mu.Unlock()
	g.push(sha('5'))
	ups := len(e.eng.upCalls("shop"))
	q, why, err := e.d.Submit(t.Context(), []forge.Event{{Kind: forge.KindGit, Provider: "github", Repository: "acme/shop", Branch: "main", Commit: sha('5')}})
	if err != nil || len(q) != 1 || q[0].Commit != sha('5') {
		t.Fatalf("push queued %+v (%q, %v)", q, why, err)
	}
	d5 := e.waitFinal(t, q[0].ID)
	if d5.Status != forge.StatusFailed || d5.Error != reasonForcePush {
		t.Errorf("deploy after the force-push: %+v", d5)
	}
	if len(e.eng.upCalls("shop")) != ups || len(e.eng.builds()) != 0 {
		t.Error("the force-pushed commit was built or brought up")
	}
	if g.checkedOut != sha('4') {
		t.Errorf("checkout left at %s, want it back at the running commit %s", shortSHA(g.checkedOut), shortSHA(sha('4')))
	}

	// Rolling back to deploy 1 reuses commit 1's api image, which still
	// exists, and rebuilds nothing else that exists.
	rb, err := e.d.Rollback(t.Context(), RollbackRequest{Project: "shop", To: d1.ID})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if rb.Commit != sha('1') || rb.RollbackOf != d1.ID {
		t.Errorf("rollback %+v", rb)
	}
	if got := e.eng.builds(); strings.Join(got, " ") != "" {
		t.Errorf("the rollback built %v; commit 1's images all exist", got)
	}
	for _, name := range []string{"web", "api"} {
		was, _ := d1.Service(name)
		now, _ := rb.Service(name)
		if now.Image != was.Image || now.Digest != was.Digest {
			t.Errorf("%s after the rollback: %+v, want deploy 1's %s (%s)", name, now, was.Image, was.Digest)
		}
	}
}

// TestGitDeployKeepsImagePushes: in a git-sourced project, a push of an
// older commit is refused; an image service a semver push moved keeps its
// tag through later git deploys; and an image push that joins a queued git
// push is deployed with it.
func TestGitDeployKeepsImagePushes(t *testing.T) {
	sha := func(c byte) string { return strings.Repeat(string(c), 40) }
	g := newFakeGit()
	e := newEnvConfig(t, Config{Git: g})
	e.eng.addProject("shop",
		forge.Service{Name: "web", Build: &forge.ServiceBuild{Context: "/data/checkouts/shop/web", Hash: "w1"}},
		svc("db", "ghcr.io/acme/db:1.4", forge.LabelEnable, "true", forge.LabelPolicy, "semver:minor"),
	)
	p := e.eng.projects["shop"]
	p.Source = &forge.Source{Repository: "https://git.example.com/acme/shop.git", Branch: "main"}
	e.eng.projects["shop"] = p
	for tag, d := range map[string]string{"1.4": dg("db14"), "1.5": dg("db15"), "1.6": dg("db16")} {
		e.eng.push("ghcr.io/acme/db", tag, d)
	}
	e.startRun(t)
	submit := func(evs ...forge.Event) forge.Deploy {
		t.Helper()
		q, why, err := e.d.Submit(t.Context(), evs)
		if err != nil || len(q) != 1 {
			t.Fatalf("submit %+v: %+v (%q, %v)", evs, q, why, err)
		}
		return e.waitFinal(t, q[0].ID)
	}
	gitPush := func(commit string) forge.Event {
		return forge.Event{Kind: forge.KindGit, Provider: "github", Repository: "acme/shop", Branch: "main", Commit: commit}
	}
	dbPush := func(tag string) forge.Event {
		return forge.Event{Kind: forge.KindImage, Provider: "distribution", Repository: "ghcr.io/acme/db", Tag: tag}
	}
	g.push(sha('1'))
	e.eng.run("shop", "db", dg("db14"))
	if d := submit(gitPush(sha('1'))); d.Status != forge.StatusSucceeded {
		t.Fatalf("first git deploy: %+v", d)
	}
	if d := submit(dbPush("1.5")); d.Status != forge.StatusSucceeded || e.eng.running["shop"]["db"].Digest != dg("db15") {
		t.Fatalf("semver push to 1.5: %+v", d)
	}
	g.push(sha('2'), "web/index.html")
	d2 := submit(gitPush(sha('2')))
	if db, _ := d2.Service("db"); d2.Status != forge.StatusSucceeded || db.Image != "ghcr.io/acme/db:1.5" || e.eng.running["shop"]["db"].Digest != dg("db15") {
		t.Errorf("a git deploy moved db off the 1.5 its policy chose: %+v", db)
	}

	// A late delivery of commit 1, now older than what runs.
	if d := submit(gitPush(sha('1'))); d.Status != forge.StatusFailed || !strings.Contains(d.Error, "older than the running commit") {
		t.Errorf("push of an older commit: %+v", d)
	}
	if g.checkedOut != sha('2') {
		t.Errorf("the older commit was checked out (%s)", shortSHA(g.checkedOut))
	}

	// While commit 3 deploys, an image push and commit 4 queue: they join
	// one deploy, which runs both.
	g.push(sha('3'), "web/app.js")
	for len(e.eng.entered) > 0 {
		<-e.eng.entered // the ups before
	}
	block := e.eng.block("shop")
	q3, _, err := e.d.Submit(t.Context(), []forge.Event{gitPush(sha('3'))})
	if err != nil || len(q3) != 1 {
		t.Fatalf("push of commit 3: %+v, %v", q3, err)
	}
	<-e.eng.entered // commit 3's deploy is in its up
	g.push(sha('4'), "web/app.js")
	qa, _, errA := e.d.Submit(t.Context(), []forge.Event{dbPush("1.6")})
	qb, _, errB := e.d.Submit(t.Context(), []forge.Event{gitPush(sha('4'))})
	if errA != nil || errB != nil || len(qa) != 1 || len(qb) != 1 || qa[0].ID != qb[0].ID {
		t.Fatalf("queued %+v and %+v (%v, %v); want one deploy", qa, qb, errA, errB)
	}
	close(block)
	e.waitFinal(t, q3[0].ID)
	d4 := e.waitFinal(t, qb[0].ID)
	if d4.Status != forge.StatusSucceeded || d4.Commit != sha('4') || e.eng.running["shop"]["db"].Digest != dg("db16") {
		t.Errorf("the joined deploy: %+v; db runs %s; want commit 4 and db 1.6", d4, e.eng.running["shop"]["db"].Digest)
	}
}

// TestGitDeployRemovesOldImages: only the newest KeepImages git deploys
// keep their built images; an image a kept deploy still uses stays however
// old, and a rollback to a deploy whose image is gone builds it again.
func TestGitDeployRemovesOldImages(t *testing.T) {
	sha := func(c byte) string { return strings.Repeat(string(c), 40) }
	g := newFakeGit()
	e := newEnvConfig(t, Config{Git: g, KeepImages: 2})
	ref := e.eng.addProject("shop",
		forge.Service{Name: "web", Build: &forge.ServiceBuild{Context: "/data/checkouts/shop/web", Hash: "w1"}},
		forge.Service{Name: "api", Build: &forge.ServiceBuild{Context: "/data/checkouts/shop/api", Hash: "a1"}},
	)
	p := e.eng.projects["shop"]
	p.Source = &forge.Source{Repository: "https://git.example.com/acme/shop.git", Branch: "main"}
	e.eng.projects["shop"] = p
	var deploys []forge.Deploy
	for _, c := range []byte("1234") {
		g.push(sha(c), "web/index.html")
		d, err := e.d.Deploy(t.Context(), Request{Ref: ref})
		if err != nil {
			t.Fatalf("deploy %c: %v", c, err)
		}
		deploys = append(deploys, d)
	}
	e.eng.builds()
	for tag, want := range map[string]bool{
		"shop-web:111111111111": false, "shop-web:222222222222": false, // older than the 2 kept deploys
		"shop-web:333333333333": true, "shop-web:444444444444": true,
		"shop-api:111111111111": true, // built by deploy 1, still run by deploys 3 and 4
	} {
		if id, _ := e.eng.ImageID(t.Context(), tag); (id != "") != want {
			t.Errorf("image %s present: %v, want %v", tag, id != "", want)
		}
	}
	rb, err := e.d.Rollback(t.Context(), RollbackRequest{Project: "shop", To: deploys[0].ID})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if got := e.eng.builds(); strings.Join(got, " ") != "shop-web:111111111111" {
		t.Errorf("rollback to deploy 1 built %v; want web again (its image was removed), api reused", got)
	}
	if web, _ := rb.Service("web"); web.Image != "shop-web:111111111111" {
		t.Errorf("web after the rollback: %+v", web)
	}
}
