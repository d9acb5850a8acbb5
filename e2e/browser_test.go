package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/docker-forge/docker-forge"
)

// browser is a headless Chromium driven by chromedp; each person gets a
// browser context of their own (their own cookies), and every step leaves a
// screenshot in the artifacts folder.
type browser struct {
	t         *testing.T
	ctx       context.Context
	artifacts string
}

func newBrowser(t *testing.T, flags ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("FORGE_E2E") == "1" {
			t.Fatal("chromium not found: scripts/services.sh installs Debian's chromium")
		}
		t.Skip("chromium not found")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 1000),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	)
	opts = append(opts, flags...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(t.Context()), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	dir := os.Getenv("FORGE_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: ctx, artifacts: dir}
}

// person opens a browser context of its own. Its tab is made here, on a
// context without a deadline: a tab lives as long as the context of the
// first action run on it.
func (b *browser) person() context.Context {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("open a browser context: %v", err)
	}
	return ctx
}

// do runs steps with a bound, failing the test with what the page shows.
func (b *browser) do(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		b.shot(ctx, "failed-"+what)
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		b.t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
	}
}

// shot keeps a full-page screenshot of the step.
func (b *browser) shot(ctx context.Context, name string) {
	b.t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.artifacts, name+".png"), buf, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

func (b *browser) text(ctx context.Context, sel string) string {
	b.t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) count(ctx context.Context, sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		b.t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

func (b *browser) signIn(ctx context.Context, base, token, shot string) {
	b.t.Helper()
	b.do(ctx, "sign in",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("form.signin button")),
		chromedp.WaitVisible(chromedp.CSS("table.projects")),
	)
	b.shot(ctx, shot)
}

// TestDashboardInABrowser drives the page as people do, in headless
// Chromium against a real daemon, engine and registry: a viewer sees
// everything and can roll nothing back (nor can the API for them); an admin
// watches a push's deploy appear, rolls it back through the confirmation
// and sees the container back on the old digest; the resource chart draws
// the busy project's samples; the page in Russian is in Russian.
func TestDashboardInABrowser(t *testing.T) {
	st := newPushStack(t, "page", true, "--settle", "200ms", "--stats-schedule", "@every 1s")
	e, d, project, repo, ref := st.e, st.d, st.project, st.repo, st.ref
	b := newBrowser(t)
	e.importImage(ref, "v1")
	d1 := e.push(ref)
	compose := writeCompose(t, fmt.Sprintf(`services:
  web:
    image: %[1]s
    init: true
    labels:
      forge.enable: "true"
      forge.settle: "200ms"
  busy:
    image: %[1]s
    init: true
    command: ["/bin/sh", "-c", "while :; do :; done"]
    cpus: 0.3
  talker:
    image: %[1]s
    init: true
    command: ["/bin/sh", "-c", "i=0; while :; do echo line $$i; i=$$((i+1)); sleep 0.2; done"]
`, ref))
	var first forge.Deploy
	e.forgeJSON(&first, "deploy", "-f", compose, "-p", project)
	var viewerTok, adminTok struct {
		Token string `json:"token"`
	}
	e.forgeJSON(&viewerTok, "token", "create", "--name", "viewer-e2e", "--role", "viewer")
	e.forgeJSON(&adminTok, "token", "create", "--name", "admin-e2e", "--role", "admin")
	viewer, admin := viewerTok.Token, adminTok.Token
	base := "http://" + d.addr

	// Samples of the busy project before the page is opened.
	waitStats(t, base, admin, project)

	// The viewer: everything to read, nothing to roll back.
	v := b.person()
	b.signIn(v, base, viewer, "01-viewer-projects")
	if got := b.text(v, "table.projects"); !strings.Contains(got, project) || !strings.Contains(got, "follows") {
		t.Errorf("the viewer's projects page lacks %s or its followed service:\n%s", project, got)
	}
	b.do(v, "viewer opens the project", chromedp.Navigate(base+"/projects/"+project), chromedp.WaitVisible(chromedp.CSS("#history table")))
	b.shot(v, "02-viewer-project")
	if n := b.count(v, "[data-rollback], [data-deploy]"); n != 0 {
		t.Errorf("the viewer's page carries %d rollback or deploy controls", n)
	}
	if code := apiPost(t, base+"/api/projects/"+project+"/rollback", viewer, `{"to":1}`); code != http.StatusForbidden {
		t.Errorf("the API answered a viewer's rollback %d, want 403", code)
	}

	// The admin: a push appears in the history without a reload.
	a := b.person()
	b.signIn(a, base, admin, "03-admin-projects")
	b.do(a, "admin opens the project", chromedp.Navigate(base+"/projects/"+project), chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#deploy-%d", first.ID))))
	e.importImage(ref, "v2")
	d2 := e.push(ref)
	pushed := e.waitFor(project, func(h []forge.Deploy) bool { return h[0].Reason == forge.ReasonPush })[0]
	b.do(a, "the push's row appears", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#deploy-%d .status-succeeded", pushed.ID))))
	b.shot(a, "04-admin-after-push")
	if row := b.text(a, fmt.Sprintf("#deploy-%d", pushed.ID)); !strings.Contains(row, d2[:19]) {
		t.Errorf("the push's row does not show the new digest %s:\n%s", d2[:19], row)
	}

	// Roll back to the first deploy through the confirmation.
	b.do(a, "open the rollback confirmation",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-rollback="%d"]`, first.ID))),
		chromedp.WaitVisible(chromedp.CSS("#rollback-body table.changes")),
	)
	b.shot(a, "05-rollback-confirmation")
	if c := b.text(a, "#rollback-body"); !strings.Contains(c, "web") || !strings.Contains(c, d2[:19]) || !strings.Contains(c, d1[:19]) || strings.Contains(c, "busy") && !strings.Contains(c, "Unchanged") {
		t.Errorf("the confirmation does not list exactly web %s → %s:\n%s", d2[:19], d1[:19], c)
	}
	b.do(a, "confirm the rollback", chromedp.Click(chromedp.CSS("#rollback-confirm")))
	rb := e.waitFor(project, func(h []forge.Deploy) bool { return h[0].Reason == forge.ReasonRollback })[0]
	b.do(a, "the rollback's row appears", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#deploy-%d .status-succeeded", rb.ID))))
	b.do(a, "the outcome is said", poll(`document.getElementById("action-status").textContent.includes("#`+fmt.Sprint(rb.ID)+`")`))
	b.shot(a, "06-admin-after-rollback")
	if web := e.container(project, "web"); web.Image != repo+"@"+d1 || web.Version != "v1" {
		t.Errorf("web after the page's rollback = %+v, want %s@%s", web, repo, d1)
	}
	if rb.RollbackOf != first.ID || rb.Trigger.User != "admin-e2e" {
		t.Errorf("rollback recorded as %+v, want to deploy %d by admin-e2e", rb, first.ID)
	}

	// The resource chart draws the busy project's samples (in 7.5 s steps
	// over 15 minutes: a project this young has few in 2 h's 1-minute ones).
	b.do(a, "the CPU chart draws points",
		chromedp.Navigate(base+"/projects/"+project+"?window=15m"),
		chromedp.WaitVisible(chromedp.CSS(".chart[data-metric=cpu] canvas")),
		poll(`+(document.querySelector(".chart[data-metric=cpu]").dataset.points || 0) >= 2`),
	)
	b.shot(a, "07-admin-charts")

	// The logs of a service: the last lines, then new ones as they come.
	b.do(a, "logs follow",
		chromedp.Navigate(base+"/projects/"+project+"/logs?service=talker"),
		poll(`(document.getElementById("log").textContent.match(/line \d+/g) || []).length >= 3`),
	)
	first3 := b.text(a, "#log")
	b.do(a, "new log lines arrive", poll(`document.getElementById("log").textContent.length > `+fmt.Sprint(len(first3)+20)))
	b.shot(a, "08-admin-logs")

	// In Russian.
	b.do(a, "switch to Russian", chromedp.Navigate(base+"/projects/"+project+"?window=15m"), chromedp.WaitVisible(chromedp.CSS("#history")),
		chromedp.Click(chromedp.CSS(`a[hreflang=ru]`)), chromedp.WaitVisible(chromedp.CSS(`html[lang=ru] #history`)))
	b.shot(a, "09-admin-project-ru")
	if h := b.text(a, "#history-h"); h != "История развёртываний" {
		t.Errorf("the Russian page's history heading is %q", h)
	}
	b.do(a, "system page", chromedp.Navigate(base+"/system"), chromedp.WaitVisible(chromedp.CSS("table.host")))
	b.shot(a, "10-admin-system-ru")
}

// waitStats waits until the collector has samples of project.
func waitStats(t *testing.T, base, token, project string) {
	t.Helper()
	for range 100 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/api/projects/"+project+"/stats?window=15m", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("stats of %s: %v", project, err)
		}
		var series []forge.StatSeries
		_ = json.NewDecoder(resp.Body).Decode(&series)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stats of %s: %s", project, resp.Status)
		}
		for _, s := range series {
			if s.Service == "" && len(s.Points) >= 2 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no stats of %s came", project)
}

func apiPost(t *testing.T, url, token, body string) int {
	t.Helper()
	resp, _, err := postJSON(t.Context(), url, []byte(body), map[string]string{"Authorization": "Bearer " + token})
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

// poll waits until a JavaScript expression is true.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr)(ctx, t)
		return err
	})
}
