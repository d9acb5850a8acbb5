package dispatch

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/docker-forge/docker-forge"
)

func TestDeployManual(t *testing.T) {
	const (
		webRepo = "ghcr.io/acme/web"
		apiRepo = "ghcr.io/acme/api"
	)
	var (
		webOld, webNew = dg("web-old"), dg("web-new")
		apiCur         = dg("api-cur")
		pgCur          = dg("postgres-16")
	)
	// setup gives every case the project "shop": web and api forge-enabled,
	// db not; the registry holds webNew, apiCur and pgCur.
	setup := func(e *env) {
		e.eng.addProject("shop",
			enabled("web", "ghcr.io/acme/web:1.4"),
			enabled("api", "ghcr.io/acme/api:2"),
			svc("db", "postgres:16"),
		)
		e.eng.push(webRepo, "1.4", webNew)
		e.eng.push(apiRepo, "2", apiCur)
		e.eng.push("docker.io/library/postgres", "16", pgCur)
	}
	tests := []struct {
		name string
		// running sets up the containers before the deploy.
		running      func(e *env)
		req          Request
		wantErr      bool
		wantUps      []upCall
		wantServices []forge.ServiceDeploy
	}{
		{
			name: "every service is pinned; only the one whose digest changed is recreated",
			running: func(e *env) {
				e.eng.run("shop", "web", webOld)
				e.eng.run("shop", "api", apiCur)
				e.eng.run("shop", "db", pgCur)
			},
			req: Request{Ref: forge.ProjectRef{Name: "shop"}, User: "alice"},
			wantUps: []upCall{{Project: "shop", Pins: map[string]string{
				"api": apiRepo + "@" + apiCur, "db": "docker.io/library/postgres@" + pgCur, "web": webRepo + "@" + webNew,
			}}},
			wantServices: []forge.ServiceDeploy{
				{Service: "api", Image: "ghcr.io/acme/api:2", Pinned: apiRepo + "@" + apiCur, Digest: apiCur, Previous: apiCur, Enabled: true},
				{Service: "db", Image: "postgres:16", Pinned: "docker.io/library/postgres@" + pgCur, Digest: pgCur, Previous: pgCur},
				{Service: "web", Image: "ghcr.io/acme/web:1.4", Pinned: webRepo + "@" + webNew, Digest: webNew, Previous: webOld, Changed: true,
					Enabled: true, Why: []string{forge.WhyDigest}},
			},
		},
		{
			name: "nothing differs: nothing is recreated",
			running: func(e *env) {
				e.eng.run("shop", "web", webNew)
				e.eng.run("shop", "api", apiCur)
				e.eng.run("shop", "db", pgCur)
			},
			req: Request{Ref: forge.ProjectRef{Name: "shop"}},
			wantUps: []upCall{{Project: "shop", Pins: map[string]string{
				"api": apiRepo + "@" + apiCur, "db": "docker.io/library/postgres@" + pgCur, "web": webRepo + "@" + webNew,
			}}},
			wantServices: []forge.ServiceDeploy{
				{Service: "api", Image: "ghcr.io/acme/api:2", Pinned: apiRepo + "@" + apiCur, Digest: apiCur, Previous: apiCur, Enabled: true},
				{Service: "db", Image: "postgres:16", Pinned: "docker.io/library/postgres@" + pgCur, Digest: pgCur, Previous: pgCur},
				{Service: "web", Image: "ghcr.io/acme/web:1.4", Pinned: webRepo + "@" + webNew, Digest: webNew, Previous: webNew, Enabled: true},
			},
		},
		{
			name: "a configuration edited on disk recreates that service and says so",
			running: func(e *env) {
				e.eng.run("shop", "web", webOld)
				e.eng.run("shop", "api", apiCur)
				e.eng.run("shop", "db", pgCur)
				e.eng.edit("shop", "api")
				e.eng.edit("shop", "web")
			},
			req: Request{Ref: forge.ProjectRef{Name: "shop"}},
			wantUps: []upCall{{Project: "shop", Pins: map[string]string{
				"api": apiRepo + "@" + apiCur, "db": "docker.io/library/postgres@" + pgCur, "web": webRepo + "@" + webNew,
			}}},
			wantServices: []forge.ServiceDeploy{
				{Service: "api", Image: "ghcr.io/acme/api:2", Pinned: apiRepo + "@" + apiCur, Digest: apiCur, Previous: apiCur, Changed: true,
					Enabled: true, Why: []string{forge.WhyConfig}},
				{Service: "db", Image: "postgres:16", Pinned: "docker.io/library/postgres@" + pgCur, Digest: pgCur, Previous: pgCur},
				{Service: "web", Image: "ghcr.io/acme/web:1.4", Pinned: webRepo + "@" + webNew, Digest: webNew, Previous: webOld, Changed: true,
					Enabled: true, Why: []string{forge.WhyDigest, forge.WhyConfig}},
			},
		},
		{
			name: "a named service need not be forge-enabled",
			running: func(e *env) {
				e.eng.run("shop", "web", webNew)
				e.eng.run("shop", "db", dg("postgres-15"))
			},
			req:     Request{Ref: forge.ProjectRef{Name: "shop"}, Services: []string{"db"}},
			wantUps: []upCall{{Project: "shop", Pins: map[string]string{"db": "docker.io/library/postgres@" + pgCur}}},
			wantServices: []forge.ServiceDeploy{
				{Service: "db", Image: "postgres:16", Pinned: "docker.io/library/postgres@" + pgCur, Digest: pgCur, Previous: dg("postgres-15"), Changed: true,
					Why: []string{forge.WhyDigest}},
			},
		},
		{
			name:    "a project without containers is brought up whole",
			running: func(*env) {},
			req:     Request{Ref: forge.ProjectRef{Name: "shop", WorkingDir: "/srv/shop", ConfigFiles: []string{"/srv/shop/compose.yaml"}}},
			wantUps: []upCall{{Project: "shop", Whole: true, Pins: map[string]string{
				"api": apiRepo + "@" + apiCur, "db": "docker.io/library/postgres@" + pgCur, "web": webRepo + "@" + webNew,
			}}},
			wantServices: []forge.ServiceDeploy{
				{Service: "api", Image: "ghcr.io/acme/api:2", Pinned: apiRepo + "@" + apiCur, Digest: apiCur, Changed: true, Enabled: true, Why: []string{forge.WhyCreated}},
				{Service: "db", Image: "postgres:16", Pinned: "docker.io/library/postgres@" + pgCur, Digest: pgCur, Changed: true, Why: []string{forge.WhyCreated}},
				{Service: "web", Image: "ghcr.io/acme/web:1.4", Pinned: webRepo + "@" + webNew, Digest: webNew, Changed: true, Enabled: true, Why: []string{forge.WhyCreated}},
			},
		},
		{
			name:    "an unknown service is an error and nothing is recorded",
			running: func(e *env) { e.eng.run("shop", "web", webOld) },
			req:     Request{Ref: forge.ProjectRef{Name: "shop"}, Services: []string{"web", "nope"}},
			wantErr: true,
		},
		{
			name:    "an unknown project is an error",
			running: func(e *env) { e.eng.run("shop", "web", webOld) },
			req:     Request{Ref: forge.ProjectRef{Name: "blog"}},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			setup(e)
			tt.running(e)

			got, err := e.d.Deploy(t.Context(), tt.req)
			hist := e.history(t, "shop")
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Deploy succeeded, want an error")
				}
				if len(hist) != 0 {
					t.Errorf("ledger holds %d deploys, want none", len(hist))
				}
				if ups := e.eng.upCalls("shop"); len(ups) != 0 {
					t.Errorf("Up called %v, want no call", ups)
				}
				return
			}
			if err != nil {
				t.Fatalf("Deploy: %v", err)
			}
			if ups := e.eng.upCalls("shop"); !reflect.DeepEqual(ups, tt.wantUps) {
				t.Errorf("Up calls = %+v, want %+v", ups, tt.wantUps)
			}
			if len(hist) != 1 {
				t.Fatalf("ledger holds %d deploys, want 1", len(hist))
			}
			rec := hist[0]
			if rec.ID != got.ID || got.ID == 0 {
				t.Errorf("returned deploy id %d, recorded %d", got.ID, rec.ID)
			}
			if rec.Status != forge.StatusSucceeded || rec.Error != "" {
				t.Errorf("recorded status %s (%q), want succeeded", rec.Status, rec.Error)
			}
			if rec.Reason != forge.ReasonManual || rec.Trigger.User != tt.req.User {
				t.Errorf("recorded reason %s user %q, want manual %q", rec.Reason, rec.Trigger.User, tt.req.User)
			}
			if rec.Started.IsZero() || rec.Finished.Before(rec.Started) {
				t.Errorf("recorded started %v finished %v", rec.Started, rec.Finished)
			}
			if !reflect.DeepEqual(rec.Services, tt.wantServices) {
				t.Errorf("recorded services:\n got %+v\nwant %+v", rec.Services, tt.wantServices)
			}
			if !reflect.DeepEqual(got.Services, rec.Services) {
				t.Errorf("returned services %+v differ from recorded %+v", got.Services, rec.Services)
			}
			// A deployed project stays known through the ledger.
			if refs, err := e.led.Projects(); err != nil || len(refs) != 1 || refs[0].Name != "shop" {
				t.Errorf("ledger projects = %v, %v; want shop", refs, err)
			}
		})
	}
}

// TestDeployOfAPlainComposeFile: a compose file without any forge label is
// deployed whole, every service pinned, as compose up -d would bring it up;
// the record says that pushes will move none of them.
func TestDeployOfAPlainComposeFile(t *testing.T) {
	e := newEnv(t)
	e.eng.addProject("plain", svc("web", "nginx"), svc("db", "postgres:16"))
	e.eng.push("docker.io/library/nginx", "latest", dg("nginx"))
	e.eng.push("docker.io/library/postgres", "16", dg("pg"))

	dep, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "plain", WorkingDir: "/srv/plain", ConfigFiles: []string{"/srv/plain/compose.yaml"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"web": "docker.io/library/nginx@" + dg("nginx"), "db": "docker.io/library/postgres@" + dg("pg")}
	for name, pin := range want {
		s, ok := dep.Service(name)
		if !ok || s.Pinned != pin || s.Digest != dg(map[string]string{"web": "nginx", "db": "pg"}[name]) || s.Enabled {
			t.Errorf("service %s = %+v, want pinned to %s, not forge-enabled", name, s, pin)
		}
	}
	// A push of nginx moves nothing: no service is forge-enabled.
	queued, ignored, err := e.d.Submit(t.Context(), []forge.Event{{Kind: forge.KindImage, Provider: "distribution", Repository: "docker.io/library/nginx", Tag: "latest", Digest: dg("nginx2")}})
	if err != nil || len(queued) != 0 || !strings.Contains(ignored, "no forge-enabled service uses") {
		t.Errorf("a push to a service without the label: %+v, %q, %v; want ignored", queued, ignored, err)
	}
}

// TestDeployPinsLocalImagesByID: an image the engine has with no registry
// copy (imported, built) is pinned by its image ID without asking any
// registry; a build: service whose image is missing is built first, and
// with Build always; a rollback returns to a local image while the engine
// has it and says what to do when it has not.
func TestDeployPinsLocalImagesByID(t *testing.T) {
	e := newEnv(t)
	app := forge.Service{Name: "app", Image: "shop-app", Build: &forge.ServiceBuild{Context: "/srv/shop/app"}}
	e.eng.addProject("shop", svc("tool", "acme/tool:dev"), app, enabled("web", shopRepo+":live"))
	toolID := e.eng.addLocal("acme/tool:dev")
	e.eng.push(shopRepo, "live", dg("v1"))
	ref := forge.ProjectRef{Name: "shop", WorkingDir: "/srv/shop", ConfigFiles: []string{"/srv/shop/compose.yaml"}}

	first, err := e.d.Deploy(t.Context(), Request{Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	tool, _ := first.Service("tool")
	built, _ := first.Service("app")
	if !tool.Local || tool.Pinned != toolID || tool.Digest != toolID {
		t.Errorf("tool = %+v, want pinned locally to %s", tool, toolID)
	}
	if !built.Built || !built.Local || built.Image != "shop-app" || !forge.IsImageID(built.Digest) || built.Pinned != built.Digest {
		t.Errorf("app = %+v, want built as shop-app and pinned by its image ID", built)
	}
	for _, r := range e.eng.resolves() {
		if strings.Contains(r, "tool") || strings.Contains(r, "app") {
			t.Errorf("a local image was resolved in a registry: %s", r)
		}
	}
	if b := e.eng.builds(); len(b) != 1 || b[0] != "shop-app" {
		t.Errorf("builds = %v, want shop-app once (its image was missing)", b)
	}

	// Nothing changed: nothing is built or recreated.
	again, err := e.d.Deploy(t.Context(), Request{Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range again.Services {
		if s.Changed {
			t.Errorf("redeploy with nothing changed recreated %s: %+v", s.Service, s)
		}
	}
	if b := e.eng.builds(); len(b) != 0 {
		t.Errorf("redeploy built %v, want no build without --build", b)
	}

	// --build builds again: a new image, recreated, and the rollback returns
	// to the first build's image.
	rebuilt, err := e.d.Deploy(t.Context(), Request{Ref: ref, Build: true})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := rebuilt.Service("app"); !s.Changed || s.Digest == built.Digest || s.Previous != built.Digest || !slices.Equal(s.Why, []string{forge.WhyImage}) {
		t.Errorf("app after --build = %+v, want a new image replacing %s", s, built.Digest)
	}
	rb, err := e.d.Rollback(t.Context(), RollbackRequest{Project: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := rb.Service("app"); s.Digest != built.Digest || !s.Local {
		t.Errorf("rollback of app = %+v, want the first build %s", s, built.Digest)
	}

	// The image to return to is gone: a failed rollback that says what to do.
	newer, _ := rebuilt.Service("app")
	e.eng.mu.Lock()
	for tag, id := range e.eng.images {
		if id == newer.Digest {
			delete(e.eng.images, tag)
		}
	}
	e.eng.mu.Unlock()
	_, err = e.d.Rollback(t.Context(), RollbackRequest{Project: "shop", To: rebuilt.ID, Services: []string{"app"}})
	if f, ok := errors.AsType[*Failure](err); !ok || !strings.Contains(f.Deploy.Error, "no longer on the engine") || !strings.Contains(f.Deploy.Error, "docker load") {
		t.Errorf("rollback to a removed local image: %v; want a failure saying how to bring it back", err)
	}
}

// TestDeployOneAtATimePerProject blocks the first deploy of project a inside
// Up and checks that a second deploy of a waits for it while a deploy of
// project b goes ahead.
func TestDeployOneAtATimePerProject(t *testing.T) {
	e := newEnv(t)
	const repo = "ghcr.io/acme/web"
	for _, name := range []string{"a", "b"} {
		e.eng.addProject(name, enabled("web", repo+":live"))
		e.eng.run(name, "web", dg("v0"))
	}
	e.eng.push(repo, "live", dg("v1"))
	gate := e.eng.block("a")

	type result struct {
		dep forge.Deploy
		err error
	}
	deployA := func(out chan<- result) {
		dep, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "a"}})
		out <- result{dep, err}
	}
	first := make(chan result, 1)
	go deployA(first)
	select {
	case <-e.eng.entered:
	case r := <-first:
		t.Fatalf("first deploy returned before Up blocked: %+v", r)
	}

	// A newer push, so the second deploy has something to bring up.
	e.eng.push(repo, "live", dg("v2"))
	loadsBefore := e.eng.loadCount("a")
	second := make(chan result, 1)
	go deployA(second)
	// The second deploy has loaded the project (Deploy does that before it
	// waits its turn); now it must wait for the first one.
	eventually(t, func() bool { return e.eng.loadCount("a") > loadsBefore })

	// Meanwhile another project deploys freely.
	if dep, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "b"}}); err != nil || dep.Status != forge.StatusSucceeded {
		t.Fatalf("deploy of b while a is busy: %s, %v", dep.Status, err)
	}
	if n := len(e.eng.upCalls("a")); n != 1 {
		t.Errorf("project a: %d Up calls while the first deploy runs, want 1", n)
	}
	if h := e.history(t, "a"); len(h) != 1 {
		t.Errorf("project a: %d deploys recorded while the first runs, want 1 (the second must wait)", len(h))
	}
	close(gate)

	r1, r2 := <-first, <-second
	if r1.err != nil || r2.err != nil {
		t.Fatalf("deploys of a: %v, %v", r1.err, r2.err)
	}
	if got := e.eng.maxConcurrentUps("a"); got != 1 {
		t.Errorf("project a: up to %d Up calls at once, want 1", got)
	}
	ups := e.eng.upCalls("a")
	if len(ups) != 2 || ups[0].Pins["web"] != repo+"@"+dg("v1") || ups[1].Pins["web"] != repo+"@"+dg("v2") {
		t.Errorf("project a: Up calls %+v, want v1 then v2", ups)
	}
	for _, r := range []result{r1, r2} {
		if rec, err := e.led.Get(r.dep.ID); err != nil || rec.Status != forge.StatusSucceeded {
			t.Errorf("deploy %d: %s, %v; want succeeded", r.dep.ID, rec.Status, err)
		}
	}
}

// TestOldLocalBuildsArePruned: the images earlier --build deploys left
// behind (their tag moved on) are removed once more than --keep-images
// newer successful deploys ran other images; the ones kept deploys can roll
// back to stay.
func TestOldLocalBuildsArePruned(t *testing.T) {
	e := newEnvConfig(t, Config{KeepImages: 2})
	app := forge.Service{Name: "app", Image: "shop-app", Build: &forge.ServiceBuild{Context: "/srv/shop/app"}}
	e.eng.addProject("shop", app)
	ref := forge.ProjectRef{Name: "shop", WorkingDir: "/srv/shop", ConfigFiles: []string{"/srv/shop/compose.yaml"}}
	var ids []string
	for range 4 {
		dep, err := e.d.Deploy(t.Context(), Request{Ref: ref, Build: true})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := dep.Service("app")
		ids = append(ids, s.Digest)
	}
	for i, id := range ids {
		got, _ := e.eng.ImageID(t.Context(), id)
		if kept := i >= len(ids)-2; (got != "") != kept {
			t.Errorf("build %d (%s): on the engine %v, want %v (keep the newest 2)", i+1, id, got != "", kept)
		}
	}
}
