package engine

import (
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

func labels(project string) map[string]string {
	return map[string]string{
		forge.ComposeProjectLabel:     project,
		forge.ComposeWorkingDirLabel:  "/srv/" + project,
		forge.ComposeConfigFilesLabel: "/srv/" + project + "/compose.yaml,/srv/" + project + "/override.yaml",
	}
}

func names(refs []forge.ProjectRef) map[string]forge.ProjectRef {
	out := map[string]forge.ProjectRef{}
	for _, r := range refs {
		out[r.Name] = r
	}
	return out
}

func TestProjectIndexFollowsContainerEvents(t *testing.T) {
	var x projectIndex
	if _, ok := x.snapshot(); ok {
		t.Fatal("an index no watch ever filled claims to be live")
	}
	oneoff := labels("shop")
	oneoff[forge.ComposeOneoffLabel] = "True"
	x.replace(map[string]map[string]string{"a1": labels("shop"), "b1": labels("blog"), "r1": oneoff})
	got, ok := x.snapshot()
	if !ok || len(got) != 2 {
		t.Fatalf("after listing: %+v, live=%v", got, ok)
	}
	shop := names(got)["shop"]
	if shop.WorkingDir != "/srv/shop" || len(shop.ConfigFiles) != 2 || shop.ConfigFiles[1] != "/srv/shop/override.yaml" {
		t.Fatalf("shop ref read wrong from labels: %+v", shop)
	}

	// A recreate: the new container is created before the old one goes.
	x.add("a2", labels("shop"))
	x.remove("a1", labels("shop"))
	if _, ok := names(mustSnapshot(t, &x))["shop"]; !ok {
		t.Fatal("a recreate dropped the project")
	}
	// The last container of blog goes: blog goes.
	x.remove("b1", labels("blog"))
	if _, ok := names(mustSnapshot(t, &x))["blog"]; ok {
		t.Fatal("a project without containers is still listed")
	}
	// A destroy seen twice, or for a container never listed, changes nothing.
	x.remove("b1", labels("blog"))
	x.remove("zz", labels("shop"))
	if _, ok := names(mustSnapshot(t, &x))["shop"]; !ok {
		t.Fatal("an unknown container's destroy dropped shop")
	}
	x.add("n1", labels("new"))
	if _, ok := names(mustSnapshot(t, &x))["new"]; !ok {
		t.Fatal("a created project is not listed")
	}
	x.stop()
	if _, ok := x.snapshot(); ok {
		t.Fatal("a stopped watch still answers from the index")
	}
}

func mustSnapshot(t *testing.T, x *projectIndex) []forge.ProjectRef {
	t.Helper()
	got, ok := x.snapshot()
	if !ok {
		t.Fatal("index not live")
	}
	return got
}

func TestWorseReplica(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	healthy := forge.Health{Running: true, State: "running", Status: "healthy", StartedAt: t0, Restarts: 1}
	tests := []struct {
		name string
		b    forge.Health
		want forge.Health
	}{
		{"both healthy", healthy, forge.Health{Running: true, State: "running", Status: "healthy", StartedAt: t0, Restarts: 2}},
		{"one unhealthy", forge.Health{Running: true, State: "running", Status: "unhealthy", StartedAt: t0.Add(time.Second)},
			forge.Health{Running: true, State: "running", Status: "unhealthy", StartedAt: t0.Add(time.Second), Restarts: 1}},
		{"one exited", forge.Health{Running: false, State: "exited", StartedAt: t0},
			forge.Health{Running: false, State: "exited", Status: "healthy", StartedAt: t0, Restarts: 1}},
	}
	for _, tt := range tests {
		if got := worse(healthy, tt.b); got != tt.want {
			t.Errorf("%s: worse = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestRecreateTmpName(t *testing.T) {
	for name, want := range map[string]string{
		"/3f2a9c1b7d4e_shop-web-1": "shop-web-1",
		"3f2a9c1b7d4e_shop-web-1":  "shop-web-1",
		"/shop-web-1":              "",
		"/3f2a9c1b7d4_shop-web-1":  "",
		"/3F2A9C1B7D4E_shop-web-1": "",
	} {
		got := ""
		if m := recreateTmpName.FindStringSubmatch(name); m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("%s: final name %q, want %q", name, got, want)
		}
	}
}
