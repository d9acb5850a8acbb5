package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/ledger"
)

// fakeLister is the part of the engine that Local.Projects reads: running
// projects, their compose models and their containers. It records the
// references it was asked to load.
type fakeLister struct {
	mu sync.Mutex

	refs       []forge.ProjectRef
	refsErr    error
	models     map[string]forge.Project // by project name
	loadErr    map[string]error
	running    map[string]map[string]forge.Running // project -> service -> container
	runningErr map[string]error

	loaded []forge.ProjectRef

	host    forge.HostStats
	hostErr error
}

func (f *fakeLister) Host(context.Context) (forge.HostStats, error) { return f.host, f.hostErr }

func (f *fakeLister) Logs(_ context.Context, project, service string, _ int, _ bool, w io.Writer) error {
	_, err := fmt.Fprintf(w, "%s/%s: hello\n", project, service)
	return err
}

func (f *fakeLister) Projects(context.Context) ([]forge.ProjectRef, error) {
	return append([]forge.ProjectRef(nil), f.refs...), f.refsErr
}

func (f *fakeLister) LoadProject(_ context.Context, ref forge.ProjectRef) (forge.Project, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loaded = append(f.loaded, ref)
	if err := f.loadErr[ref.Name]; err != nil {
		return forge.Project{}, err
	}
	p, ok := f.models[ref.Name]
	if !ok {
		return forge.Project{}, fmt.Errorf("load %s: no compose file", ref.Name)
	}
	p.Ref = ref
	return p, nil
}

func (f *fakeLister) Running(_ context.Context, project string) (map[string]forge.Running, error) {
	if err := f.runningErr[project]; err != nil {
		return nil, err
	}
	return f.running[project], nil
}

func openLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	led, err := ledger.Open(filepath.Join(t.TempDir(), "forge.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = led.Close() })
	return led
}

// record writes finished deploys to the ledger and returns them as stored.
func record(t *testing.T, led *ledger.Ledger, deploys ...forge.Deploy) []forge.Deploy {
	t.Helper()
	for i := range deploys {
		if err := led.Create(&deploys[i]); err != nil {
			t.Fatal(err)
		}
	}
	return deploys
}

var enabled = map[string]string{forge.LabelEnable: "true"}

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func TestLocalProjects(t *testing.T) {
	led := openLedger(t)
	shopRef := forge.ProjectRef{Name: "shop", WorkingDir: "/srv/shop", ConfigFiles: []string{"/srv/shop/compose.yaml"}}
	archiveRef := forge.ProjectRef{Name: "archive", WorkingDir: "/srv/archive", ConfigFiles: []string{"/srv/archive/compose.yaml"}}
	legacyRef := forge.ProjectRef{Name: "legacy", WorkingDir: "/srv/legacy", ConfigFiles: []string{"/srv/legacy/compose.yaml"}}
	// shop is both running and saved, from an older working dir: the
	// engine's reference wins and the project is listed once.
	for _, ref := range []forge.ProjectRef{archiveRef, legacyRef, {Name: "shop", WorkingDir: "/old/shop", ConfigFiles: []string{"/old/shop/compose.yaml"}}} {
		if err := led.SaveProject(ref, t0); err != nil {
			t.Fatal(err)
		}
	}
	shopDeploys := record(t, led,
		sampleDeploy(0, "shop", forge.StatusSucceeded),
		sampleDeploy(0, "shop", forge.StatusFailed),
	)
	archiveDeploys := record(t, led, sampleDeploy(0, "archive", forge.StatusSucceeded))
	legacyDeploys := record(t, led, sampleDeploy(0, "legacy", forge.StatusSucceeded))
	brokenDeploys := record(t, led, sampleDeploy(0, "broken", forge.StatusFailed))

	eng := &fakeLister{
		refs: []forge.ProjectRef{
			shopRef,
			{Name: "zeta", WorkingDir: "/srv/zeta"},
			{Name: "broken", WorkingDir: "/srv/broken"},
			{Name: "plain", WorkingDir: "/srv/plain"}, // no enabled service, never deployed
			{Name: "fresh", WorkingDir: "/srv/fresh"}, // broken model, never deployed
		},
		models: map[string]forge.Project{
			"shop": {Services: []forge.Service{
				{Name: "web", Image: "ghcr.io/acme/web:1", Labels: enabled},
				{Name: "db", Image: "postgres:17", Labels: map[string]string{forge.LabelEnable: "false"}},
				{Name: "worker", Image: "ghcr.io/acme/worker:1", Labels: enabled},
				{Name: "cache", Image: "redis:8"},
			}},
			"zeta":    {Services: []forge.Service{{Name: "api", Image: "ghcr.io/acme/api:2", Labels: enabled}}},
			"plain":   {Services: []forge.Service{{Name: "nginx", Image: "nginx:1"}}},
			"archive": {Services: []forge.Service{{Name: "app", Image: "127.0.0.1:5000/app:latest", Labels: enabled}}},
			"legacy":  {Services: []forge.Service{{Name: "app", Image: "legacy:1"}}},
		},
		loadErr: map[string]error{
			"broken": errors.New(`yaml: line 3: password: "hunter2" is not a mapping`),
			"fresh":  errors.New("open /srv/fresh/compose.yaml: no such file"),
		},
		running: map[string]map[string]forge.Running{
			"shop": {
				"web":   {Service: "web", Digest: digest('b'), State: "running"},
				"db":    {Service: "db", Digest: digest('d'), State: "running"},
				"cache": {Service: "cache", State: "exited"},
			},
		},
		runningErr: map[string]error{"zeta": errors.New("container list: permission denied")},
	}
	l := &api.Local{Ledger: led, Engine: eng}
	got, err := l.Projects(t.Context())
	if err != nil {
		t.Fatalf("Projects: %v", err)
	}
	want := []api.ProjectStatus{
		{
			Name: "archive", WorkingDir: "/srv/archive", LastDeploy: &archiveDeploys[0],
			Services: []api.ServiceStatus{{Name: "app", Image: "127.0.0.1:5000/app:latest", Enabled: true}},
		},
		{
			Name: "broken", WorkingDir: "/srv/broken", LastDeploy: &brokenDeploys[0],
			Services: []api.ServiceStatus{}, Error: "compose project could not be loaded",
		},
		{
			Name: "fresh", WorkingDir: "/srv/fresh",
			Services: []api.ServiceStatus{}, Error: "compose project could not be loaded",
		},
		{Name: "legacy", WorkingDir: "/srv/legacy", LastDeploy: &legacyDeploys[0], Services: []api.ServiceStatus{{Name: "app", Image: "legacy:1"}}},
		{
			Name: "shop", WorkingDir: "/srv/shop", LastDeploy: &shopDeploys[1],
			Services: []api.ServiceStatus{
				{Name: "web", Image: "ghcr.io/acme/web:1", Digest: digest('b'), State: "running", Enabled: true},
				{Name: "db", Image: "postgres:17", Digest: digest('d'), State: "running"},
				{Name: "worker", Image: "ghcr.io/acme/worker:1", Enabled: true},
				{Name: "cache", Image: "redis:8", State: "exited"},
			},
		},
		{
			Name: "zeta", WorkingDir: "/srv/zeta", Error: "could not read the project's containers", StateUnknown: true,
			Services: []api.ServiceStatus{{Name: "api", Image: "ghcr.io/acme/api:2", Enabled: true}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		gotJSON, _ := json.MarshalIndent(got, "", "  ")
		wantJSON, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("projects\n got %s\nwant %s", gotJSON, wantJSON)
	}
	for _, p := range got {
		if strings.Contains(p.Error, "hunter2") || strings.Contains(p.Error, "permission") {
			t.Errorf("project %s shows the raw error: %q", p.Name, p.Error)
		}
	}
	// Projects only saved in the ledger load from the saved reference, the
	// running ones from the engine's.
	loaded := map[string]forge.ProjectRef{}
	for _, ref := range eng.loaded {
		loaded[ref.Name] = ref
	}
	for _, ref := range []forge.ProjectRef{shopRef, archiveRef, legacyRef} {
		if !reflect.DeepEqual(loaded[ref.Name], ref) {
			t.Errorf("loaded %s from %+v, want %+v", ref.Name, loaded[ref.Name], ref)
		}
	}
	if len(eng.loaded) != 7 {
		t.Errorf("loaded %d models, want 7 (one per project): %+v", len(eng.loaded), eng.loaded)
	}
}

func TestLocalProjectsEmpty(t *testing.T) {
	l := &api.Local{Ledger: openLedger(t), Engine: &fakeLister{}}
	got, err := l.Projects(t.Context())
	if err != nil {
		t.Fatalf("Projects: %v", err)
	}
	if got == nil || len(got) != 0 {
		t.Errorf("projects %#v, want an empty, non-nil list", got)
	}
	b, _ := json.Marshal(got)
	if string(b) != "[]" {
		t.Errorf("projects as JSON %s, want []", b)
	}
}

// TestLocalProjectsEngineDown: with the engine unreachable, ls still lists
// the projects the ledger knows, each with its last (queued) deploy and the
// reason its containers cannot be shown.
func TestLocalProjectsEngineDown(t *testing.T) {
	down := fmt.Errorf("%w: dial unix /var/run/docker.sock: connect: no such file or directory", forge.ErrEngineUnavailable)
	led := openLedger(t)
	if err := led.SaveProject(forge.ProjectRef{Name: "shop"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	queued := record(t, led, forge.Deploy{Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusQueued})[0]
	l := &api.Local{Ledger: led, Engine: &fakeLister{refsErr: down}}
	ps, err := l.Projects(t.Context())
	if err != nil {
		t.Fatalf("Projects with the engine down: %v", err)
	}
	if len(ps) != 1 || ps[0].Name != "shop" || ps[0].Error != "docker engine unreachable" || ps[0].LastDeploy == nil ||
		ps[0].LastDeploy.ID != queued.ID || ps[0].LastDeploy.Status != forge.StatusQueued {
		t.Fatalf("Projects = %+v, want shop with its queued deploy and the engine's state", ps)
	}
}

func TestLocalHistory(t *testing.T) {
	led := openLedger(t)
	deploys := record(t, led,
		sampleDeploy(0, "shop", forge.StatusSucceeded),
		sampleDeploy(0, "other", forge.StatusSucceeded),
		sampleDeploy(0, "shop", forge.StatusFailed),
		sampleDeploy(0, "shop", forge.StatusSucceeded),
	)
	l := &api.Local{Ledger: led, Engine: &fakeLister{}}
	tests := []struct {
		name    string
		project string
		limit   int
		want    []forge.Deploy
	}{
		{name: "all", project: "shop", want: []forge.Deploy{deploys[3], deploys[2], deploys[0]}},
		{name: "limited", project: "shop", limit: 2, want: []forge.Deploy{deploys[3], deploys[2]}},
		{name: "other project", project: "other", want: []forge.Deploy{deploys[1]}},
		{name: "unknown project", project: "nope", want: []forge.Deploy{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.History(t.Context(), tt.project, tt.limit)
			if err != nil {
				t.Fatalf("History: %v", err)
			}
			if got == nil {
				t.Fatalf("History returned nil, want a non-nil slice (JSON [])")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("history\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
