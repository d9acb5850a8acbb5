package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/dispatch"
)

// TestConfigurationKeptDiffedRestored: every deploy keeps its whole
// configuration, secrets masked. diff names exactly what changed between
// two deploys; a changed password shows as changed, and its value is in no
// byte of the ledger and no line of the log; rollback --to brings the old
// environment and port back (read from the container), not only the image;
// a container changed by hand is flagged as drift and diffed; forget
// refuses a running project, then removes it.
func TestConfigurationKeptDiffedRestored(t *testing.T) {
	st := newPushStack(t, "snap", false, "--settle", "200ms")
	e, d, project, ref := st.e, st.d, st.project, st.ref
	e.importImage(ref, "v1")
	e.push(ref)
	p1, p2 := freePort(t), freePort(t)
	const pass1, pass2 = "first-db-pass-3c9a", "second-db-pass-7e1f"
	body := func(level string, port int, pass string) string {
		return fmt.Sprintf(`services:
  web:
    image: %s
    init: true
    environment:
      LOG_LEVEL: %s
      DB_PASSWORD: %s
      DATABASE_URL: postgres://app:%s@db:5432/shop
    ports: ["127.0.0.1:%d:8080"]
`, ref, level, pass, pass, port)
	}
	file := writeCompose(t, body("info", p1, pass1))
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var first, second forge.Deploy
	e.forgeJSON(&first, "deploy", "-f", file, "-p", project)
	write(body("debug", p2, pass1))
	e.forgeJSON(&second, "deploy", "-f", file, "-p", project)

	// Exactly the two changes.
	var diff dispatch.Diff
	e.forgeJSON(&diff, "diff", project, fmt.Sprint(first.ID), fmt.Sprint(second.ID))
	if len(diff.Services) != 1 || diff.Services[0].Service != "web" {
		t.Fatalf("diff %d %d = %+v, want web only", first.ID, second.ID, diff)
	}
	var got []string
	for _, c := range diff.Services[0].Changes {
		got = append(got, c.String())
	}
	want := []string{"environment.LOG_LEVEL: info → debug", fmt.Sprintf("ports: +127.0.0.1:%d:8080/tcp -127.0.0.1:%d:8080/tcp", p2, p1)}
	if !slices.Equal(got, want) {
		t.Errorf("diff %d %d:\n%s\nwant:\n%s", first.ID, second.ID, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s, _ := second.Service("web"); s.Summary != "2 env, ports" && s.Summary != "1 env, ports" {
		t.Errorf("deploy %d's summary of web: %q", second.ID, s.Summary)
	}
	if out := e.docker("forge", "history", project, "-v"); !strings.Contains(out, "web: 1 env, ports") {
		t.Errorf("history -v does not sum up the change:\n%s", out)
	}

	// Back to deploy 1: its environment and port, read from the container.
	var rb forge.Deploy
	e.forgeJSON(&rb, "rollback", project, "--to", fmt.Sprint(first.ID))
	web := e.container(project, "web")
	if env := e.inspect(web.ID, "{{range .Config.Env}}{{println .}}{{end}}"); !strings.Contains(env, "LOG_LEVEL=info") {
		t.Errorf("after rollback --to %d web's environment is\n%s\nwant LOG_LEVEL=info", first.ID, env)
	}
	if got := get(fmt.Sprintf("http://127.0.0.1:%d/version", p1)); got != "v1" {
		t.Errorf("after the rollback the old port %d answers %q", p1, got)
	}
	s1, _ := first.Service("web")
	if s, _ := rb.Service("web"); rb.Status != forge.StatusSucceeded || s.Snapshot != s1.Snapshot || len(rb.Warnings) != 0 {
		t.Errorf("rollback %+v: snapshot %s, want deploy %d's %s and no warning", rb, s.Snapshot, first.ID, s1.Snapshot)
	}

	// A new password: changed, and nowhere to be read.
	write(body("info", p1, pass2))
	var third forge.Deploy
	e.forgeJSON(&third, "deploy", "-f", file, "-p", project)
	out := e.docker("forge", "diff", project, fmt.Sprint(rb.ID), fmt.Sprint(third.ID))
	if !strings.Contains(out, "environment.DB_PASSWORD: changed") || !strings.Contains(out, "environment.DATABASE_URL: changed") || strings.Count(out, "\n") != 4 {
		t.Errorf("diff after a password change:\n%s\nwant DB_PASSWORD and DATABASE_URL changed, nothing else", out)
	}
	// Rolling back to deploy 1 takes today's password, and says so.
	var back forge.Deploy
	e.forgeJSON(&back, "rollback", project, "--to", fmt.Sprint(first.ID))
	if !slices.ContainsFunc(back.Warnings, func(w string) bool { return strings.Contains(w, "DB_PASSWORD") }) {
		t.Errorf("a rollback over a changed password gave no warning: %v", back.Warnings)
	}
	if env := e.inspect(e.container(project, "web").ID, "{{range .Config.Env}}{{println .}}{{end}}"); !strings.Contains(env, "DB_PASSWORD="+pass2) {
		t.Errorf("the rollback did not keep today's password:\n%s", env)
	}
	ledgerBytes, err := os.ReadFile(filepath.Join(e.dataDir, "forge.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{pass1, pass2} {
		if strings.Contains(string(ledgerBytes), p) {
			t.Errorf("the ledger file holds the password %s", p)
		}
		if strings.Contains(d.Log(), p) {
			t.Errorf("the daemon's log holds the password %s", p)
		}
	}

	// Drift: the container recreated by hand with another value.
	write(body("warn", p1, pass2))
	svc, err := compose.NewComposeService(dockerCLI(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.LoadProject(t.Context(), api.ProjectLoadOptions{ConfigPaths: []string{file}, ProjectName: project})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Up(t.Context(), p, api.UpOptions{Create: api.CreateOptions{Recreate: api.RecreateDiverged, Inherit: true}, Start: api.StartOptions{Project: p}}); err != nil {
		t.Fatal(err)
	}
	var ls []struct {
		Name  string   `json:"name"`
		Drift []string `json:"drift"`
	}
	e.forgeJSON(&ls, "ls")
	drifted := false
	for _, l := range ls {
		drifted = drifted || l.Name == project && slices.Equal(l.Drift, []string{"web"})
	}
	if !drifted {
		t.Errorf("ls does not flag web as drifted: %+v", ls)
	}
	if out := e.docker("forge", "ls"); !strings.Contains(out, "DRIFT") {
		t.Errorf("ls's table does not mark the drift:\n%s", out)
	}
	out = e.docker("forge", "diff", project, "running")
	if !strings.Contains(out, "environment.LOG_LEVEL: info → warn") || strings.Contains(out, "PATH") || strings.Contains(out, pass2) {
		t.Errorf("diff running:\n%s\nwant LOG_LEVEL info → warn, and nothing the image brings or any secret", out)
	}

	// Forget: refused while it runs, then all of it gone.
	if out, err := e.tryDocker("forge", "forget", project); err == nil || !strings.Contains(out, "still run") {
		t.Errorf("forget of a running project: %v\n%s", err, out)
	}
	out = e.docker("forge", "forget", project, "--force")
	if !strings.Contains(out, "forgot "+project) {
		t.Errorf("forget --force said:\n%s", out)
	}
	if h := e.history(project); len(h) != 0 {
		t.Errorf("history after forget: %+v", h)
	}
}
