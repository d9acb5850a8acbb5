package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

// These tests hold docker-forge to what `docker compose up -d` does with the
// same files: configuration edits applied, every service of a plain file
// brought up, local images used, data in volumes kept.

// inspect reads one Go-template field of a container.
func (e *env) inspect(id, format string) string {
	e.t.Helper()
	return strings.TrimSpace(e.docker("inspect", "-f", format, id))
}

// get fetches a URL on loopback and returns its body ("" when it fails).
func get(url string) string {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// TestConfigEditIsDeployed: an edited environment variable and published
// port are deployed as compose up -d would deploy them: the service is
// recreated with the new values (read back from its container and its
// port), its sibling is left running, and the history says why. A push that
// arrives with an edit on disk deploys both and says so.
func TestConfigEditIsDeployed(t *testing.T) {
	st := newPushStack(t, "config", true)
	e, project, ref := st.e, st.project, st.ref
	e.importImage(ref, "v1")
	e.push(ref)
	p1, p2 := freePort(t), freePort(t)
	body := func(level string, port int) string {
		return fmt.Sprintf(`services:
  web:
    image: %[1]s
    init: true
    environment:
      LOG_LEVEL: %[2]s
    ports: ["127.0.0.1:%[3]d:8080"]
    labels:
      forge.enable: "true"
      forge.settle: "200ms"
  side:
    image: %[1]s
    init: true
    labels:
      forge.settle: "200ms"
`, ref, level, port)
	}
	compose := writeCompose(t, body("info", p1))
	var first forge.Deploy
	e.forgeJSON(&first, "deploy", "-f", compose, "-p", project)
	web1, side1 := e.container(project, "web"), e.container(project, "side")
	if first.Status != forge.StatusSucceeded || get(fmt.Sprintf("http://127.0.0.1:%d/version", p1)) != "v1" {
		t.Fatalf("first deploy %+v; web not serving on port %d", first, p1)
	}

	// The person edits the file and deploys as they would run compose up -d.
	if err := os.WriteFile(compose, []byte(body("debug", p2)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := e.docker("forge", "deploy", "-f", compose, "-p", project)
	if !strings.Contains(out, "config changed") {
		t.Errorf("deploy output does not say why web was recreated:\n%s", out)
	}
	web2 := e.container(project, "web")
	if web2.ID == web1.ID {
		t.Fatal("web was not recreated after its environment and port changed")
	}
	if env := e.inspect(web2.ID, "{{range .Config.Env}}{{println .}}{{end}}"); !strings.Contains(env, "LOG_LEVEL=debug") {
		t.Errorf("web's environment after the deploy:\n%s\nwant LOG_LEVEL=debug", env)
	}
	if got := get(fmt.Sprintf("http://127.0.0.1:%d/version", p2)); got != "v1" {
		t.Errorf("web on the new port %d answers %q, want v1", p2, got)
	}
	if got := get(fmt.Sprintf("http://127.0.0.1:%d/version", p1)); got != "" {
		t.Errorf("the old port %d still answers %q", p1, got)
	}
	if now := e.container(project, "side"); now.ID != side1.ID {
		t.Error("side was recreated though its configuration did not change")
	}
	edited := e.history(project)[0]
	if s, _ := edited.Service("web"); !s.Changed || !slices.Equal(s.Why, []string{forge.WhyConfig}) {
		t.Errorf("history of web: %+v, want recreated for %q", s, forge.WhyConfig)
	}
	if s, _ := edited.Service("side"); s.Changed || len(s.Why) != 0 {
		t.Errorf("history of side: %+v, want unchanged", s)
	}

	// Another edit waits on disk when v2 is pushed: the push deploys both.
	if err := os.WriteFile(compose, []byte(body("warn", p2)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.importImage(ref, "v2")
	d2 := e.push(ref)
	pushed := e.waitFor(project, func(h []forge.Deploy) bool { return h[0].Reason == forge.ReasonPush })[0]
	s, _ := pushed.Service("web")
	if pushed.Status != forge.StatusSucceeded || s.Digest != d2 || !slices.Equal(s.Why, []string{forge.WhyDigest, forge.WhyConfig}) {
		t.Errorf("push deploy %s of web: %+v; want %s with %q and %q", pushed.Status, s, d2, forge.WhyDigest, forge.WhyConfig)
	}
	web3 := e.container(project, "web")
	if env := e.inspect(web3.ID, "{{range .Config.Env}}{{println .}}{{end}}"); web3.Version != "v2" || !strings.Contains(env, "LOG_LEVEL=warn") {
		t.Errorf("web after the push serves %q with environment\n%s\nwant v2 and LOG_LEVEL=warn", web3.Version, env)
	}

	// A deploy by name moves side, which pushes do not follow, to its tag's
	// digest, and leaves web as it is; then nothing is left to change.
	var byName, again forge.Deploy
	e.forgeJSON(&byName, "deploy", project)
	if s, _ := byName.Service("side"); !s.Changed || s.Digest != d2 || !slices.Equal(s.Why, []string{forge.WhyDigest}) {
		t.Errorf("side after a deploy by name: %+v, want moved to %s for %q only", s, d2, forge.WhyDigest)
	}
	if s, _ := byName.Service("web"); s.Changed {
		t.Errorf("web recreated by a deploy with nothing of it changed: %+v", s)
	}
	e.forgeJSON(&again, "deploy", project)
	for _, s := range again.Services {
		if s.Changed {
			t.Errorf("a deploy with nothing changed recreated %s: %+v", s.Service, s)
		}
	}
}

// TestRollbackWaitsForTheRunningDeploy: a rollback asked for while a push's
// deploy is still settling waits for it, then returns the service to the
// earlier digest; meanwhile history shows what the running deploy moves to,
// and --no-wait refuses, saying what runs.
func TestRollbackWaitsForTheRunningDeploy(t *testing.T) {
	st := newPushStack(t, "turn", true)
	e, project, repo, ref := st.e, st.project, st.repo, st.ref
	e.importImage(ref, "v1")
	d1 := e.push(ref)
	compose := writeCompose(t, fmt.Sprintf(`services:
  web:
    image: %s
    init: true
    labels:
      forge.enable: "true"
      forge.settle: "4s"
`, ref))
	var first forge.Deploy
	e.forgeJSON(&first, "deploy", "-f", compose, "-p", project)

	e.importImage(ref, "v2")
	d2 := e.push(ref)
	var running forge.Deploy
	for range 100 {
		if h := e.history(project); h[0].Reason == forge.ReasonPush {
			if s, _ := h[0].Service("web"); h[0].Status == forge.StatusRunning && s.Target() == d2 {
				running = h[0]
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if running.ID == 0 {
		t.Fatalf("the push's deploy never showed as running towards %s: %+v", d2, e.history(project))
	}
	if out := e.docker("forge", "history", project); !strings.Contains(out, "running") || !strings.Contains(out, d2[:19]) {
		t.Errorf("history does not show the running deploy's target %s:\n%s", d2[:19], out)
	}

	out, err := e.tryDocker("forge", "rollback", project, "--no-wait")
	want := fmt.Sprintf("deploy %d of %s is running", running.ID, project)
	if err == nil || !strings.Contains(out, want) || !strings.Contains(out, "--no-wait") {
		t.Fatalf("rollback --no-wait during a deploy: err %v\n%s\nwant a refusal saying %q", err, out, want)
	}

	out = e.docker("forge", "rollback", project)
	if !strings.Contains(out, fmt.Sprintf("waiting for deploy %d of %s to finish", running.ID, project)) {
		t.Errorf("rollback did not say what it waits for:\n%s", out)
	}
	h := e.history(project)
	if len(h) < 3 || h[0].Reason != forge.ReasonRollback || h[1].ID != running.ID || h[2].ID != first.ID {
		t.Fatalf("history %+v, want the rollback after the push after the first deploy", h)
	}
	if h[1].Status != forge.StatusSucceeded || h[0].Status != forge.StatusSucceeded || h[0].RollbackOf != first.ID || !h[0].Started.After(h[1].Finished) {
		t.Errorf("push %s, rollback %s to %d started %v (push finished %v): want the rollback to %d after the push succeeded",
			h[1].Status, h[0].Status, h[0].RollbackOf, h[0].Started, h[1].Finished, first.ID)
	}
	if web := e.container(project, "web"); web.Image != repo+"@"+d1 || web.Version != "v1" {
		t.Errorf("web after the rollback = %+v, want %s@%s", web, repo, d1)
	}
}

// TestPlainComposeFileDeploysEveryService: a compose file without a single
// forge label deploys whole, each service pinned; a push to one of its
// images moves nothing until the service carries forge.enable=true.
func TestPlainComposeFileDeploysEveryService(t *testing.T) {
	st := newPushStack(t, "plain", true, "--settle", "200ms")
	e, d, project, repo, ref := st.e, st.d, st.project, st.repo, st.ref
	other := st.regAddr + "/" + project + "/other:1"
	e.importImage(ref, "v1")
	d1 := e.push(ref)
	e.importImage(other, "other")
	dOther := e.push(other)
	body := func(labels string) string {
		return fmt.Sprintf(`services:
  web:
    image: %s
    init: true
%s  other:
    image: %s
    init: true
`, ref, labels, other)
	}
	compose := writeCompose(t, body(""))
	out := e.docker("forge", "deploy", "-f", compose, "-p", project)
	if !strings.Contains(out, "pushes move none") {
		t.Errorf("deploy output does not say pushes will not follow these services:\n%s", out)
	}
	first := e.history(project)[0]
	for svc, want := range map[string]string{"web": repo + "@" + d1, "other": st.regAddr + "/" + project + "/other@" + dOther} {
		s, _ := first.Service(svc)
		if first.Status != forge.StatusSucceeded || s.Pinned != want || e.container(project, svc).Image != want {
			t.Errorf("%s after deploying a plain file: recorded %+v, runs %s; want pinned %s", svc, s, e.container(project, svc).Image, want)
		}
	}

	// v2 is pushed: the daemon hears it and leaves web alone.
	e.importImage(ref, "v2")
	d2 := e.push(ref)
	waitLog(t, d, "webhook event", d2)
	if log := d.Log(); !strings.Contains(log[strings.Index(log, d2):], "nothing to deploy") {
		t.Errorf("the daemon did not log why the push deployed nothing:\n%s", log)
	}
	if h := e.history(project); len(h) != 1 {
		t.Fatalf("a push moved a service without forge.enable: %+v", h)
	}
	if web := e.container(project, "web"); web.Version != "v1" {
		t.Fatalf("web serves %s after a push it does not follow", web.Version)
	}

	// With the label (a configuration change, deployed by hand), it follows.
	if err := os.WriteFile(compose, []byte(body("    labels:\n      forge.enable: \"true\"\n      forge.settle: \"200ms\"\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	e.docker("forge", "deploy", "-f", compose, "-p", project)
	e.importImage(ref, "v3")
	d3 := e.push(ref)
	pushed := e.waitFor(project, func(h []forge.Deploy) bool { return h[0].Reason == forge.ReasonPush })[0]
	if s, _ := pushed.Service("web"); pushed.Status != forge.StatusSucceeded || s.Digest != d3 {
		t.Errorf("push with the label: %+v, want web on %s", pushed, d3)
	}
	if _, ok := pushed.Service("other"); ok {
		t.Error("the push touched other, which has no label")
	}
}

// waitLog waits until the daemon's log has a line holding every part.
func waitLog(t *testing.T, d *daemon, parts ...string) {
	t.Helper()
	for range 100 {
		for _, line := range strings.Split(d.Log(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the daemon never logged %q:\n%s", parts, d.Log())
}

// TestVolumesKeepTheirData: files in a named and an anonymous volume survive
// a push redeploy, a manual deploy of an edited configuration and a
// rollback, as they survive compose up -d.
func TestVolumesKeepTheirData(t *testing.T) {
	st := newPushStack(t, "volumes", true)
	e, project, ref := st.e, st.project, st.ref
	e.importImage(ref, "v1")
	e.push(ref)
	body := func(level string) string {
		return fmt.Sprintf(`services:
  web:
    image: %s
    init: true
    environment:
      LEVEL: %s
    volumes:
      - /anon
      - data:/named
    labels:
      forge.enable: "true"
      forge.settle: "200ms"
volumes:
  data: {}
`, ref, level)
	}
	compose := writeCompose(t, body("1"))
	e.docker("forge", "deploy", "-f", compose, "-p", project)
	web := e.container(project, "web")
	e.docker("exec", web.ID, "sh", "-c", "echo anonymous > /anon/f && echo named > /named/f")
	check := func(step string) {
		t.Helper()
		c := e.container(project, "web")
		if c.ID == web.ID {
			t.Fatalf("%s: web was not recreated, so its volumes were not put to the test", step)
		}
		web = c
		for path, want := range map[string]string{"/anon/f": "anonymous", "/named/f": "named"} {
			if got, err := e.tryDocker("exec", c.ID, "cat", path); err != nil || strings.TrimSpace(got) != want {
				t.Errorf("%s: %s holds %q (%v), want %q", step, path, strings.TrimSpace(got), err, want)
			}
		}
	}

	e.importImage(ref, "v2")
	d2 := e.push(ref)
	e.waitFor(project, func(h []forge.Deploy) bool { s, _ := h[0].Service("web"); return s.Digest == d2 })
	check("push redeploy")

	if err := os.WriteFile(compose, []byte(body("2")), 0o644); err != nil {
		t.Fatal(err)
	}
	e.docker("forge", "deploy", "-f", compose, "-p", project)
	check("manual deploy of an edited file")

	e.docker("forge", "rollback", project)
	check("rollback")
}

// TestUnknownProjectIsNamedUnknown: a rollback or lock of a project forge
// never saw says so, in words for people, without a package prefix.
func TestUnknownProjectIsNamedUnknown(t *testing.T) {
	e := newEnv(t, "")
	name := randomName("forge-e2e-nosuch-")
	for _, args := range [][]string{{"rollback", name}, {"lock", name}} {
		out, err := e.tryDocker(append([]string{"forge"}, args...)...)
		if err == nil || !strings.Contains(out, "unknown project") || strings.Contains(out, "dispatch:") {
			t.Errorf("docker forge %s: %v\n%s\nwant an error naming the project unknown, no package prefix", strings.Join(args, " "), err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dataDir, "forge.db")); err == nil {
		if h := e.history(name); len(h) != 0 {
			t.Errorf("refused commands recorded deploys: %+v", h)
		}
	}
}
