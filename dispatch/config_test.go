package dispatch

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

// TestConfigurationIsKept: each deploy records its services' snapshots;
// a later one says what changed in a word and field by field; a rollback
// restores deploy 1's configuration, not only its image, unless asked for
// the images only.
func TestConfigurationIsKept(t *testing.T) {
	e := newEnv(t)
	e.eng.snapshots = true
	e.eng.addProject("shop", enabled("web", shopRepo+":live"), svc("db", "postgres:16"))
	e.eng.push(shopRepo, "live", dg("v1"))
	e.eng.push("docker.io/library/postgres", "16", dg("pg"))
	e.eng.setEnv("shop", "web", map[string]string{"LOG_LEVEL": "info"})
	ref := forge.ProjectRef{Name: "shop", WorkingDir: "/srv/shop", ConfigFiles: []string{"/srv/shop/compose.yaml"}}
	first, err := e.d.Deploy(t.Context(), Request{Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	e.eng.setEnv("shop", "web", map[string]string{"LOG_LEVEL": "debug"})
	e.eng.push(shopRepo, "live", dg("v2"))
	second, err := e.d.Deploy(t.Context(), Request{Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	web1, _ := first.Service("web")
	web2, _ := second.Service("web")
	if web1.Snapshot == "" || web2.Snapshot == web1.Snapshot || web2.Summary != "digest, 1 env" {
		t.Fatalf("web's snapshots %q then %q, summary %q; want two, the second summed up as digest, 1 env", web1.Snapshot, web2.Snapshot, web2.Summary)
	}
	if db, _ := second.Service("db"); db.Summary != "" {
		t.Errorf("db did not change, but its summary is %q", db.Summary)
	}
	if got := second.ConfigSummary(); got != "web: digest, 1 env" {
		t.Errorf("the deploy's summary is %q", got)
	}

	diff, err := e.d.Diff(t.Context(), "shop", "1", "2")
	if err != nil {
		t.Fatal(err)
	}
	if len(diff.Services) != 1 || diff.Services[0].Service != "web" {
		t.Fatalf("diff 1 2 = %+v, want web only", diff)
	}
	var lines []string
	for _, c := range diff.Services[0].Changes {
		lines = append(lines, c.String())
	}
	want := []string{"environment.LOG_LEVEL: info → debug", "image: " + shopRepo + "@" + dg("v1") + " → " + shopRepo + "@" + dg("v2")}
	if !slices.Equal(lines, want) {
		t.Errorf("diff 1 2:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if cur, err := e.d.Diff(t.Context(), "shop", "1", ""); err != nil || cur.To != "2" || len(cur.Services) != 1 {
		t.Errorf("diff 1 (to the current deploy) = %+v, %v", cur, err)
	}

	// Back to deploy 1: its configuration too.
	rb, err := e.d.Rollback(t.Context(), RollbackRequest{Project: "shop", To: first.ID})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := rb.Service("web")
	if !slices.Contains(e.eng.restored, "web") || e.eng.env["shop"]["web"]["LOG_LEVEL"] != "info" || s.Snapshot != web1.Snapshot || s.RequestedConfig != web1.Snapshot {
		t.Errorf("rollback to 1: restored %v, LOG_LEVEL %q, snapshot %q; want web back to deploy 1's %q",
			e.eng.restored, e.eng.env["shop"]["web"]["LOG_LEVEL"], s.Snapshot, web1.Snapshot)
	}
	// --images-only keeps the compose file's configuration.
	e.eng.restored = nil
	if _, err := e.d.Rollback(t.Context(), RollbackRequest{Project: "shop", To: second.ID, ImagesOnly: true}); err != nil {
		t.Fatal(err)
	}
	if len(e.eng.restored) != 0 {
		t.Errorf("an images-only rollback restored %v", e.eng.restored)
	}

	// Bad input.
	e.eng.addProject("blog", enabled("web", shopRepo+":live"))
	e.eng.run("blog", "web", dg("v1"))
	other, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "blog"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		from, to, says string
		is             error
	}{
		{"999", "", "no deploy 999", ledger.ErrNotFound},
		{"1", "999", "no deploy 999", ledger.ErrNotFound},
		{"1", itoa(other.ID), "belongs to project blog", nil},
		{"latest", "", "is not a deploy ID", nil},
	} {
		_, err := e.d.Diff(t.Context(), "shop", tt.from, tt.to)
		if err == nil || !strings.Contains(err.Error(), tt.says) || tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("diff %s %s: %v, want an error saying %q", tt.from, tt.to, err, tt.says)
		}
	}
	if _, err := e.d.Diff(t.Context(), "nosuch", "1", ""); !errors.Is(err, ErrUnknownProject) {
		t.Errorf("diff of an unknown project: %v", err)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestForget refuses a project whose containers run, unless forced, and
// leaves none of its deploys.
func TestForget(t *testing.T) {
	e := newEnv(t)
	e.eng.snapshots = true
	e.eng.addProject("shop", enabled("web", shopRepo+":live"))
	e.eng.run("shop", "web", dg("v0"))
	e.eng.push(shopRepo, "live", dg("v1"))
	if _, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.Forget(t.Context(), "shop", false); !errors.Is(err, ErrStillRunning) {
		t.Fatalf("forget of a running project: %v, want ErrStillRunning", err)
	}
	if len(e.history(t, "shop")) != 1 {
		t.Fatal("a refused forget removed deploys")
	}
	got, err := e.d.Forget(t.Context(), "shop", true)
	if err != nil || got.Deploys != 1 || got.Snapshots != 1 {
		t.Fatalf("forget --force = %+v, %v; want 1 deploy and its snapshot", got, err)
	}
	if len(e.history(t, "shop")) != 0 {
		t.Error("deploys remain after forget")
	}
}
