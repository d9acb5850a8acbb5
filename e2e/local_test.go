package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/engine"
)

// TestLocalBuiltAndRegistryImagesInOneProject: a project mixing an image
// imported on the engine (never pushed), a build: service and a registry
// image deploys, each pinned (the first two by image ID, with no registry
// asked); deploys again with nothing changed recreating nothing; rebuilds
// with --build; rolls back to the first build; and its lock file, brought up
// by the compose SDK alone, gives containers of the same image IDs, and
// changes nothing when deployed. Bad input is refused clearly and touches
// nothing running.
func TestLocalBuiltAndRegistryImagesInOneProject(t *testing.T) {
	st := newPushStack(t, "local", false, "--settle", "200ms")
	e, project, ref := st.e, st.project, st.ref
	e.importImage(ref, "web")
	webDigest := e.push(ref)
	base := randomName("forge-e2e-local-") + "/base:dev" // docker.io/…, never pushed anywhere
	e.importImage(base, "tool")
	baseID := e.inspectImage(base)

	dir := filepath.Dir(writeCompose(t, ""))
	file := filepath.Join(dir, "compose.yaml")
	write := func(name, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("compose.yaml", fmt.Sprintf(`services:
  web:
    image: %s
    init: true
  tool:
    image: %s
    init: true
  app:
    build: ./app
    init: true
`, ref, base))
	write("app/Dockerfile", fmt.Sprintf("FROM %s\nCOPY version /www/version\n", base))
	write("app/version", "app-v1\n")

	var first forge.Deploy
	e.forgeJSON(&first, "deploy", "-f", file, "-p", project)
	if first.Status != forge.StatusSucceeded {
		t.Fatalf("first deploy: %+v", first)
	}
	app1, _ := first.Service("app")
	e.images = append(e.images, app1.Digest)
	tool, _ := first.Service("tool")
	web, _ := first.Service("web")
	if !tool.Local || tool.Digest != baseID || e.container(project, "tool").Version != "tool" {
		t.Errorf("tool = %+v, want pinned to the local image %s", tool, baseID)
	}
	if !app1.Built || !forge.IsImageID(app1.Digest) || e.container(project, "app").Version != "app-v1" {
		t.Errorf("app = %+v, want built and pinned by image ID, serving app-v1", app1)
	}
	if web.Local || web.Digest != webDigest {
		t.Errorf("web = %+v, want the registry digest %s", web, webDigest)
	}
	if out := e.docker("forge", "history", project); !strings.Contains(out, "(local") || !strings.Contains(out, "(built") {
		t.Errorf("history does not mark the local and built images:\n%s", out)
	}

	// Nothing changed: nothing is built, nothing recreated.
	var again forge.Deploy
	e.forgeJSON(&again, "deploy", "-f", file, "-p", project)
	for _, s := range again.Services {
		if s.Changed || s.Built {
			t.Errorf("a deploy with nothing changed rebuilt or recreated %s: %+v", s.Service, s)
		}
	}

	// --build builds the edited context: app moves to a new image.
	write("app/version", "app-v2\n")
	var rebuilt forge.Deploy
	e.forgeJSON(&rebuilt, "deploy", "-f", file, "-p", project, "--build")
	app2, _ := rebuilt.Service("app")
	e.images = append(e.images, app2.Digest)
	if !app2.Changed || app2.Digest == app1.Digest || !slices.Equal(app2.Why, []string{forge.WhyImage}) || e.container(project, "app").Version != "app-v2" {
		t.Errorf("app after --build: %+v, want recreated on a new image serving app-v2", app2)
	}
	for _, name := range []string{"web", "tool"} {
		if s, _ := rebuilt.Service(name); s.Changed {
			t.Errorf("--build recreated %s: %+v", name, s)
		}
	}

	// Back to the first build, still on the engine without a tag.
	var rb forge.Deploy
	e.forgeJSON(&rb, "rollback", project)
	if s, _ := rb.Service("app"); rb.Status != forge.StatusSucceeded || s.Digest != app1.Digest || e.container(project, "app").Version != "app-v1" {
		t.Errorf("rollback: %s, app %+v; want app back on %s serving app-v1", rb.Status, s, app1.Digest)
	}

	// The lock, brought up by the compose SDK alone on fresh containers.
	lock := filepath.Join(dir, "compose.lock.yaml")
	e.docker("forge", "lock", project, "-o", lock)
	want := map[string]string{}
	for _, name := range []string{"web", "tool", "app"} {
		want[name] = e.inspect(e.container(project, name).ID, "{{.Image}}")
	}
	ids := strings.Fields(e.docker("ps", "-aq", "--filter", "label="+forge.ComposeProjectLabel+"="+project))
	e.docker(append([]string{"rm", "-f"}, ids...)...)
	svc, err := compose.NewComposeService(dockerCLI(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.LoadProject(t.Context(), api.ProjectLoadOptions{ConfigPaths: []string{file, lock}})
	if err != nil {
		t.Fatalf("compose does not load the lock: %v", err)
	}
	if p.Name != project {
		t.Errorf("the lock names project %q, want %q", p.Name, project)
	}
	if err := svc.Up(t.Context(), p, api.UpOptions{Start: api.StartOptions{Project: p}}); err != nil {
		t.Fatalf("compose up with the lock: %v", err)
	}
	for name, id := range want {
		if got := e.inspect(e.container(project, name).ID, "{{.Image}}"); got != id {
			t.Errorf("%s brought up from the lock runs image %s, want %s (what forge ran)", name, got, id)
		}
	}
	var fromLock forge.Deploy
	e.forgeJSON(&fromLock, "deploy", "-f", file, "-f", lock, "-p", project)
	for _, s := range fromLock.Services {
		if s.Changed {
			t.Errorf("deploying with the lock changed %s: %+v", s.Service, s)
		}
	}

	// Bad input: a build that fails, a lock of a failed or unknown deploy.
	before := map[string]string{}
	for _, name := range []string{"web", "tool", "app"} {
		before[name] = e.container(project, name).ID
	}
	write("app/Dockerfile", fmt.Sprintf("FROM %s\nCOPY missing-file /www/\n", base))
	out, err := e.tryDocker("forge", "deploy", "-f", file, "-p", project, "--build")
	if err == nil || !strings.Contains(out, "build failed: app") {
		t.Errorf("deploy with a failing build: %v\n%s\nwant a failure saying the build failed", err, out)
	}
	failed := e.history(project)[0]
	if failed.Status != forge.StatusFailed || failed.Error != "build failed: app" {
		t.Errorf("failed build recorded as %s %q", failed.Status, failed.Error)
	}
	for name, id := range before {
		if now := e.container(project, name); now.ID != id || now.State != "running" {
			t.Errorf("a failed build touched %s: %+v", name, now)
		}
	}
	for _, tt := range []struct{ args, want string }{
		{fmt.Sprintf("lock %s --deploy %d", project, failed.ID), "failed; lock a successful deploy"},
		{fmt.Sprintf("lock %s --deploy 99999", project), "no deploy 99999"},
	} {
		out, err := e.tryDocker(append([]string{"forge"}, strings.Fields(tt.args)...)...)
		if err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("docker forge %s: %v\n%s\nwant an error saying %q", tt.args, err, out, tt.want)
		}
	}
}

// inspectImage returns an image's ID.
func (e *env) inspectImage(ref string) string {
	e.t.Helper()
	return strings.TrimSpace(e.docker("image", "inspect", "-f", "{{.Id}}", ref))
}

// TestStatsOfAContainerRemovedMidRead: a container removed while the
// collector reads its stats has no reading, which is not a failure.
func TestStatsOfAContainerRemovedMidRead(t *testing.T) {
	e := newEnv(t, "")
	image := randomName("forge-e2e-stats-") + ":v1"
	e.importImage(image, "v1")
	name := randomName("forge-e2e-vanish-")
	id := strings.TrimSpace(e.docker("run", "-d", "--init", "--name", name, image))
	t.Cleanup(func() { _, _ = e.tryDocker("rm", "-f", id) })
	eng, err := engine.New(dockerCLI(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		// With the engine's previous sample the read takes a second.
		_, err := eng.ContainerStats(t.Context(), forge.ContainerSample{ID: id, Name: name}, true)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	e.docker("rm", "-f", id)
	if err := <-done; !errors.Is(err, engine.ErrNotRunning) {
		t.Errorf("stats of a container removed mid-read: %v, want ErrNotRunning", err)
	}
}
