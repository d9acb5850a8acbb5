package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

// gitStack is a bare repository served locally, a working copy to commit
// in, a base image to build from, and a daemon with git deploys.
type gitStack struct {
	t        testing.TB
	e        *env
	d        *daemon
	secret   string
	project  string
	bare     string // the bare repository's directory
	work     string // the working copy
	url      string // what x-forge names: git:// (git daemon) or file://
	fullName string // the forge's owner/name
	base     string // the image the Dockerfiles build FROM
}

// newGitStack makes the stack; serve, when not nil, serves the directory of
// repositories and returns its base URL (else the repository is file://).
func newGitStack(t testing.TB, name string, serve func(testing.TB, string) string, daemonArgs ...string) *gitStack {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root := t.TempDir()
	s := &gitStack{t: t, secret: randomName("e2e-git-secret-"), project: randomName("forge-e2e-" + name + "-")}
	s.e = newEnv(t, "")
	// Cleanups run last first: the containers go, then the images built
	// for them, then (newEnv's) the base image they were built from.
	t.Cleanup(func() { s.removeBuiltImages() })
	s.e.cleanupProject(s.project)
	s.base = s.project + "/base:1"
	s.e.importImage(s.base, "base")
	// Laid out as a forge does, owner/name.git: a push names the repository
	// by its owner/name.
	repos := filepath.Join(root, "repos")
	s.fullName = "acme/" + s.project
	s.bare = filepath.Join(repos, s.fullName+".git")
	s.work = filepath.Join(root, "work")
	if err := os.MkdirAll(filepath.Dir(s.bare), 0o755); err != nil {
		t.Fatal(err)
	}
	s.git(root, "init", "-q", "--bare", "-b", "main", s.bare)
	s.git(root, "init", "-q", "-b", "main", s.work)
	s.git(s.work, "remote", "add", "origin", s.bare)
	s.url = "file://" + s.bare
	if serve != nil {
		s.url = serve(t, repos) + "/" + s.fullName + ".git"
	}
	s.d = s.e.startDaemon(s.secret, daemonArgs...)
	return s
}

// serveGitDaemon runs git daemon over dir on a free loopback port until the
// test ends, and returns its git:// base URL.
func serveGitDaemon(t testing.TB, dir string) string {
	t.Helper()
	bin := "/usr/lib/git-core/git-daemon"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("git daemon is not installed (/usr/lib/git-core/git-daemon)")
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--reuseaddr", "--export-all", "--base-path="+dir, "--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "git://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("git daemon did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *gitStack) git(dir string, args ...string) string {
	s.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=forge e2e", "GIT_AUTHOR_EMAIL=e2e@forge.test",
		"GIT_COMMITTER_NAME=forge e2e", "GIT_COMMITTER_EMAIL=e2e@forge.test", "GIT_CONFIG_NOSYSTEM=1", "HOME="+s.t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (a "" body deletes one) in the working copy, commits,
// pushes branch and returns the commit.
func (s *gitStack) commit(branch string, files map[string]string) string {
	s.t.Helper()
	for name, body := range files {
		path := filepath.Join(s.work, name)
		if body == "" {
			_ = os.Remove(path)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	s.git(s.work, "add", "-A")
	s.git(s.work, "commit", "-q", "-m", fmt.Sprintf("change %d files", len(files)))
	sha := s.git(s.work, "rev-parse", "HEAD")
	s.git(s.work, "push", "-q", "origin", "HEAD:refs/heads/"+branch)
	return sha
}

// firstDeploy commits the project (web and api serving the versions given)
// and deploys it from the user's own working copy, as a person would the
// first time: forge checks the branch out in its own directory and builds
// both services there.
func (s *gitStack) firstDeploy(web, api string) forge.Deploy {
	s.t.Helper()
	c := s.commit("main", map[string]string{
		"compose.yaml": s.compose(), "web/Dockerfile": s.dockerfile(), "web/version": web,
		"api/Dockerfile": s.dockerfile(), "api/version": api,
	})
	var first forge.Deploy
	s.e.forgeJSON(&first, "deploy", "-f", filepath.Join(s.work, "compose.yaml"), "-p", s.project)
	if first.Status != forge.StatusSucceeded || first.Commit != c {
		s.t.Fatalf("first deploy = %+v; want succeeded at %s\n%s", first, c, s.d.Log())
	}
	return first
}

// compose is the project's compose file: two services built from their own
// directories, each serving its version file.
func (s *gitStack) compose() string {
	return fmt.Sprintf(`x-forge:
  repository: %s
  branch: main
services:
  web:
    build: ./web
    init: true
    labels: {forge.settle: "200ms"}
  api:
    build: ./api
    init: true
    labels: {forge.settle: "200ms"}
`, s.url)
}

func (s *gitStack) dockerfile() string {
	return fmt.Sprintf("FROM %s\nCOPY version /www/version\n", s.base)
}

// hook sends a signed push of commit on branch the way provider does, and
// returns the status and body of the answer.
func (s *gitStack) hook(provider, branch, commit string) (int, string) {
	s.t.Helper()
	return s.hookBody(provider, map[string]any{
		"ref": "refs/heads/" + branch, "before": strings.Repeat("0", 40), "after": commit,
		"head_commit": map[string]string{"id": commit},
		"repository":  map[string]string{"full_name": s.fullName, "clone_url": s.url},
	})
}

// hookBody sends payload, signed, the way provider does.
func (s *gitStack) hookBody(provider string, payload map[string]any) (int, string) {
	s.t.Helper()
	body, _ := json.Marshal(payload)
	mac := hmac.New(sha256.New, []byte(s.secret))
	mac.Write(body)
	sig := hex.EncodeToString(mac.Sum(nil))
	header := map[string]string{}
	switch provider {
	case "github":
		header = map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": randomName("gh-"), "X-Hub-Signature-256": "sha256=" + sig}
	case "gitea":
		header = map[string]string{"X-Gitea-Event": "push", "X-Gitea-Delivery": randomName("gt-"), "X-Gitea-Signature": sig}
	default:
		s.t.Fatalf("no such provider %s", provider)
	}
	resp, b, err := postJSON(s.t.Context(), "http://"+s.d.addr+"/hooks/"+provider, body, header)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// waitDeploy waits for a deploy newer than after to finish, and returns it.
func (s *gitStack) waitDeploy(after uint64) forge.Deploy {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		h := s.e.history(s.project)
		if len(h) > 0 && h[0].ID > after && h[0].Status.Final() {
			return h[0]
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no deploy after %d finished in 90 s: %+v\ndaemon log:\n%s", after, h, s.d.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// removeBuiltImages removes the images built for the project, and the
// untagged layers a failed build left on top of the base image, so the
// base image can go too.
func (s *gitStack) removeBuiltImages() {
	out, _ := s.e.tryDocker("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference="+s.project+"-*")
	if refs := strings.Fields(out); len(refs) > 0 {
		_, _ = s.e.tryDocker(append([]string{"rmi", "-f"}, refs...)...)
	}
	out, _ = s.e.tryDocker("images", "-a", "-q", "--filter", "dangling=true", "--filter", "since="+s.base)
	if ids := strings.Fields(out); len(ids) > 0 {
		_, _ = s.e.tryDocker(append([]string{"rmi", "-f"}, ids...)...)
	}
}

func (s *gitStack) runs(service string) container {
	s.t.Helper()
	return s.e.container(s.project, service)
}

// TestGitPushDeploysAtTheCommit: a push to the project's repository, served
// by git daemon, rebuilds and recreates only the service whose build
// context changed, at the pushed commit, for GitHub- and Gitea-style
// webhooks; a rollback by deploy id returns to the first commit's images
// without building them again.
func TestGitPushDeploysAtTheCommit(t *testing.T) {
	s := newGitStack(t, "git", serveGitDaemon)
	first := s.firstDeploy("web-1", "api-1")
	c1 := first.Commit
	web1, api1 := s.runs("web"), s.runs("api")
	if web1.Version != "web-1" || api1.Version != "api-1" || web1.Image != s.project+"-web:"+c1[:12] {
		t.Fatalf("after the first deploy web %+v, api %+v", web1, api1)
	}

	// A push that changes web only, sent as GitHub does.
	c2 := s.commit("main", map[string]string{"web/version": "web-2"})
	if code, body := s.hook("github", "main", c2); code != http.StatusAccepted || !strings.Contains(body, c2) {
		t.Fatalf("github push answered %d %s", code, body)
	}
	d2 := s.waitDeploy(first.ID)
	if d2.Status != forge.StatusSucceeded || d2.Commit != c2 || d2.PreviousCommit != c1 {
		t.Fatalf("push deploy = %+v; want succeeded at %s after %s\n%s", d2, c2, c1, s.d.Log())
	}
	web2, api2 := s.runs("web"), s.runs("api")
	if web2.Version != "web-2" || web2.ID == web1.ID || web2.Image != s.project+"-web:"+c2[:12] {
		t.Errorf("web after the push: %+v; want version web-2 in a new container from the %s image", web2, c2[:12])
	}
	if api2.ID != api1.ID || api2.Image != s.project+"-api:"+c1[:12] {
		t.Errorf("api was recreated or rebuilt though its context did not change: %+v, was %+v", api2, api1)
	}
	if sd, _ := d2.Service("web"); !sd.Built || !sd.Changed {
		t.Errorf("ledger web entry %+v; want built and changed", sd)
	}
	if sd, _ := d2.Service("api"); sd.Changed || sd.Image != s.project+"-api:"+c1[:12] {
		t.Errorf("ledger api entry %+v; want unchanged on the %s image", sd, c1[:12])
	}

	// The same from Gitea, changing api.
	c3 := s.commit("main", map[string]string{"api/version": "api-3"})
	if code, body := s.hook("gitea", "main", c3); code != http.StatusAccepted {
		t.Fatalf("gitea push answered %d %s", code, body)
	}
	d3 := s.waitDeploy(d2.ID)
	web3, api3 := s.runs("web"), s.runs("api")
	if d3.Status != forge.StatusSucceeded || d3.Commit != c3 || api3.Version != "api-3" || api3.ID == api2.ID || web3.ID != web2.ID {
		t.Errorf("gitea push: deploy %+v, web %+v (was %s), api %+v", d3, web3, web2.ID, api3)
	}

	// history shows the commits.
	out := s.e.docker("forge", "history", s.project)
	if !strings.Contains(out, "at commit "+c3[:12]+" (was "+c2[:12]+")") {
		t.Errorf("history does not show the commits:\n%s", out)
	}

	// Roll back to the first deploy: both services return to commit 1's
	// images, which still exist, so nothing is built.
	logBefore := len(s.d.Log())
	var rb forge.Deploy
	s.e.forgeJSON(&rb, "rollback", s.project, "--to", fmt.Sprint(first.ID))
	if rb.Status != forge.StatusSucceeded || rb.Commit != c1 || rb.RollbackOf != first.ID {
		t.Fatalf("rollback = %+v\n%s", rb, s.d.Log())
	}
	webR, apiR := s.runs("web"), s.runs("api")
	if webR.Version != "web-1" || apiR.Version != "api-1" || webR.Image != web1.Image || apiR.Image != api1.Image {
		t.Errorf("after the rollback web %+v, api %+v; want commit 1's images", webR, apiR)
	}
	for _, name := range []string{"web", "api"} {
		was, _ := first.Service(name)
		now, _ := rb.Service(name)
		if now.Digest != was.Digest {
			t.Errorf("%s after the rollback runs image %s; want %s, the one built at commit 1", name, now.Digest, was.Digest)
		}
	}
	if !strings.Contains(s.d.Log()[:logBefore], "operation=build") {
		t.Error("the daemon log shows no build for the pushes: the check below cannot tell")
	}
	if strings.Contains(s.d.Log()[logBefore:], "operation=build") {
		t.Error("the rollback built an image that still existed")
	}
}

// TestGitPushRefusals: pushes that must deploy nothing, and failures that
// must leave the running services alone, over a file:// repository.
func TestGitPushRefusals(t *testing.T) {
	s := newGitStack(t, "gitbad", nil)
	first := s.firstDeploy("web-1", "api-1")
	c1 := first.Commit
	web1 := s.runs("web")

	// Another branch: answered 200 with the reason, nothing queued.
	other := s.commit("feature", map[string]string{"web/version": "web-feature"})
	if code, body := s.hook("github", "feature", other); code != http.StatusOK || !strings.Contains(body, "follows branch main, not feature") {
		t.Errorf("push to another branch answered %d %s", code, body)
	}
	// A commit the repository does not have.
	bogus := strings.Repeat("ab", 20)
	last := first.ID
	for _, tt := range []struct {
		name   string
		files  map[string]string
		commit string
		reason string
	}{
		{name: "no such commit", commit: bogus, reason: "does not exist in the repository"},
		{name: "compose file broken", files: map[string]string{"compose.yaml": "services: [this is not a mapping\n"}, reason: "the compose file does not load at commit"},
		{name: "build fails", files: map[string]string{"compose.yaml": s.compose(), "web/Dockerfile": s.dockerfile() + "COPY missing-file /www/\n"}, reason: "build failed: web"},
	} {
		commit := tt.commit
		if tt.files != nil {
			commit = s.commit("main", tt.files)
		}
		if code, body := s.hook("github", "main", commit); code != http.StatusAccepted {
			t.Fatalf("%s: push answered %d %s", tt.name, code, body)
		}
		d := s.waitDeploy(last)
		last = d.ID
		if d.Status != forge.StatusFailed || !strings.Contains(d.Error, tt.reason) {
			t.Errorf("%s: deploy %+v; want failed with %q", tt.name, d, tt.reason)
		}
		if now := s.runs("web"); now.ID != web1.ID || now.Version != "web-1" {
			t.Errorf("%s: web was touched: %+v, was %+v", tt.name, now, web1)
		}
		out := s.e.docker("forge", "history", s.project)
		if !strings.Contains(out, tt.reason) {
			t.Errorf("%s: history does not say why:\n%s", tt.name, out)
		}
	}
	// A remote that cannot be reached.
	if err := os.Rename(s.bare, s.bare+".away"); err != nil {
		t.Fatal(err)
	}
	if code, body := s.hook("github", "main", c1); code != http.StatusAccepted {
		t.Fatalf("push with the remote away answered %d %s", code, body)
	}
	if d := s.waitDeploy(last); d.Status != forge.StatusFailed || !strings.Contains(d.Error, "git fetch failed") {
		t.Errorf("unreachable remote: deploy %+v", d)
	} else {
		last = d.ID
	}
	if err := os.Rename(s.bare+".away", s.bare); err != nil {
		t.Fatal(err)
	}

	// A force-push that takes the running commit out of main: the push is
	// not deployed, and says why.
	s.git(s.work, "checkout", "-q", "--orphan", "rewritten")
	s.git(s.work, "commit", "-q", "-m", "history rewritten")
	rewritten := s.git(s.work, "rev-parse", "HEAD")
	s.git(s.work, "push", "-q", "--force", "origin", "HEAD:refs/heads/main")
	if code, body := s.hook("github", "main", rewritten); code != http.StatusAccepted {
		t.Fatalf("force-push answered %d %s", code, body)
	}
	if d := s.waitDeploy(last); d.Status != forge.StatusFailed || !strings.Contains(d.Error, "force-push removed the running commit") {
		t.Errorf("force-push: deploy %+v", d)
	}
	if now := s.runs("web"); now.ID != web1.ID {
		t.Errorf("force-push: web was touched: %+v", now)
	}

	// The deleted branch is refused by the listener itself.
	code, body := s.hookBody("github", map[string]any{"ref": "refs/heads/main", "after": strings.Repeat("0", 40), "deleted": true,
		"repository": map[string]string{"full_name": s.fullName, "clone_url": s.url}})
	if code != http.StatusOK || !strings.Contains(body, "deleted") {
		t.Errorf("deleted branch answered %d %s", code, body)
	}
}

// smartHTTP serves the repositories in dir through git-http-backend behind
// Basic authentication that wants the token as password.
func smartHTTP(token string) func(testing.TB, string) string {
	return func(t testing.TB, dir string) string {
		t.Helper()
		backend := "/usr/lib/git-core/git-http-backend"
		if _, err := os.Stat(backend); err != nil {
			t.Skip("git-http-backend is not installed")
		}
		h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"}}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, p, ok := r.BasicAuth(); !ok || p != token {
				w.Header().Set("WWW-Authenticate", `Basic realm="forge e2e"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
}

// TestGitPrivateRepository deploys from a repository behind a token, read
// from a file the config names, and checks the token is in no log line, no
// ledger record and no file of forge's checkout.
func TestGitPrivateRepository(t *testing.T) {
	token := randomName("ghp-e2e-token-")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "git-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("git:\n  credentials:\n    - repository: http://127.0.0.1\n      token_file: "+tokenFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newGitStack(t, "gitpriv", smartHTTP(token), "--config", config)
	// The working copy pushes to the bare repository directly; only forge
	// goes through the authenticated server.
	first := s.firstDeploy("web-1", "api-1")
	c2 := s.commit("main", map[string]string{"web/version": "web-2"})
	if code, body := s.hook("github", "main", c2); code != http.StatusAccepted {
		t.Fatalf("push answered %d %s", code, body)
	}
	if d := s.waitDeploy(first.ID); d.Status != forge.StatusSucceeded || s.runs("web").Version != "web-2" {
		t.Fatalf("push deploy = %+v", d)
	}
	if strings.Contains(s.d.Log(), token) {
		t.Error("the git token is in the daemon's log")
	}
	s.d.stop(t)
	err := filepath.Walk(s.e.dataDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), token) {
			t.Errorf("the git token is in %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
