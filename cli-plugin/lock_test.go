package cliplugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"

	"github.com/docker-forge/docker-forge/dispatch"
)

// TestLockIsAComposeOverride: the lock loads with compose-go on top of the
// project's own compose file, names the same project, and replaces each
// pinned service's image (a build: service's too) while leaving the rest of
// every service, and the unpinned services, as the file has them.
func TestLockIsAComposeOverride(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(base, []byte(`services:
  web:
    image: 127.0.0.1:5000/shop/web:live
    environment:
      LOG_LEVEL: info
    ports: ["8080:80"]
  app:
    build: ./app
  db:
    image: postgres:16
`), 0o644); err != nil {
		t.Fatal(err)
	}
	web := "127.0.0.1:5000/shop/web@sha256:" + strings.Repeat("a", 64)
	app := "sha256:" + strings.Repeat("b", 64)
	l := dispatch.Lock{
		Project: "shop", Deploy: fixedDeploy(43), ConfigFiles: []string{base},
		Services: []dispatch.LockedService{
			{Service: "app", Image: app, Local: true, Was: "shop-app", From: 43},
			{Service: "web", Image: web, Was: "127.0.0.1:5000/shop/web:live", From: 40},
		},
		Unpinned: []string{"db"},
	}
	out, err := renderLock(l, filepath.Join(dir, "compose.lock.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, want := range []string{"deploy 43 of shop", "docker compose -f " + base + " -f compose.lock.yaml up -d", "Not pinned", "db", "local image (shop-app)"} {
		if !strings.Contains(text, want) {
			t.Errorf("lock lacks %q:\n%s", want, text)
		}
	}
	lock := filepath.Join(dir, "compose.lock.yaml")
	if err := os.WriteFile(lock, out, 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{base, lock}, cli.WithWorkingDirectory(filepath.Join(dir, "elsewhere")))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("compose-go does not load the lock on top of the compose file: %v\n%s", err, text)
	}
	if p.Name != "shop" {
		t.Errorf("project name %q, want shop (the lock names it, whatever the directory)", p.Name)
	}
	if got := p.Services["web"]; got.Image != web || *got.Environment["LOG_LEVEL"] != "info" || len(got.Ports) != 1 {
		t.Errorf("web = image %q env %v ports %v; want the pinned image and the rest of the file", got.Image, got.Environment, got.Ports)
	}
	if got := p.Services["app"]; got.Image != app || got.Build == nil {
		t.Errorf("app = image %q build %v; want the local image ID, build section kept", got.Image, got.Build)
	}
	if got := p.Services["db"]; got.Image != "postgres:16" {
		t.Errorf("db = %q, want the file's image (not pinned)", got.Image)
	}
	if len(p.Services) != 3 {
		t.Errorf("services %v, want the file's three and no other", p.ServiceNames())
	}
}
