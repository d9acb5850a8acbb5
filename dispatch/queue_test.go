package dispatch

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

const shopRepo = "ghcr.io/acme/shop"

// pushEvent is a registry push of ghcr.io/acme/shop:live with digest.
func pushEvent(digest, delivery string) forge.Event {
	return forge.Event{Kind: forge.KindImage, Provider: "distribution", Repository: shopRepo, Tag: "live", Digest: digest, Delivery: delivery}
}

func TestSubmitQueuesAndRunDeploys(t *testing.T) {
	e := newEnv(t)
	v1, v2 := dg("v1"), dg("v2")
	for _, name := range []string{"blog", "shop"} {
		e.eng.addProject(name, enabled("web", shopRepo+":live"), enabled("cache", "redis:7"))
		e.eng.run(name, "web", v1)
		e.eng.run(name, "cache", dg("redis"))
	}
	e.eng.addProject("other", enabled("web", "ghcr.io/acme/other:live"))
	e.eng.run("other", "web", dg("other"))
	e.eng.push(shopRepo, "live", v2)

	queued, ignored, err := e.d.Submit(t.Context(), []forge.Event{pushEvent(v2, "d-1")})
	if err != nil || ignored != "" {
		t.Fatalf("Submit = %v, %q, want no error and nothing ignored", err, ignored)
	}
	if len(queued) != 2 {
		t.Fatalf("Submit queued %+v, want one deploy for blog and one for shop", queued)
	}
	for i, project := range []string{"blog", "shop"} {
		q := queued[i]
		if q.Project != project || q.Status != forge.StatusQueued || !slices.Equal(q.Services, []string{"web"}) {
			t.Errorf("queued[%d] = %+v, want %s [web] queued", i, q, project)
		}
		rec, err := e.led.Get(q.ID)
		if err != nil {
			t.Fatalf("queued deploy %d not in the ledger: %v", q.ID, err)
		}
		if rec.Project != project || rec.Status != forge.StatusQueued || rec.Reason != forge.ReasonPush {
			t.Errorf("ledger has %+v, want a queued push deploy of %s", rec, project)
		}
	}
	if len(e.eng.upCalls("blog"))+len(e.eng.upCalls("shop")) != 0 {
		t.Fatal("Submit deployed on its own; only Run may")
	}

	e.startRun(t)
	for _, q := range queued {
		rec := e.waitFinal(t, q.ID)
		if rec.Status != forge.StatusSucceeded {
			t.Fatalf("deploy %d of %s: %s %q, want succeeded", q.ID, q.Project, rec.Status, rec.Error)
		}
		want := []forge.ServiceDeploy{{Service: "web", Image: shopRepo + ":live", Pinned: shopRepo + "@" + v2, Digest: v2, Previous: v1,
			Changed: true, Requested: v2, Enabled: true, Why: []string{forge.WhyDigest}}}
		if !reflect.DeepEqual(rec.Services, want) {
			t.Errorf("deploy of %s recorded %+v, want %+v", q.Project, rec.Services, want)
		}
		if rec.Trigger.Provider != "distribution" || rec.Trigger.Delivery != "d-1" {
			t.Errorf("deploy of %s trigger %+v, want distribution d-1", q.Project, rec.Trigger)
		}
		ups := e.eng.upCalls(q.Project)
		if len(ups) != 1 || len(ups[0].Pins) != 1 || ups[0].Pins["web"] != shopRepo+"@"+v2 {
			t.Errorf("Up calls for %s = %+v, want web pinned to v2", q.Project, ups)
		}
	}
	if !slices.Contains(e.eng.resolves(), shopRepo+":live") {
		t.Errorf("resolved %v, want the pushed digest confirmed against what %s:live points at", e.eng.resolves(), shopRepo)
	}
	if ups := e.eng.upCalls("other"); len(ups) != 0 {
		t.Errorf("unrelated project deployed: %+v", ups)
	}
}

func TestSubmitIgnoresEventsNoServiceFollows(t *testing.T) {
	e := newEnv(t)
	e.eng.addProject("shop", enabled("web", shopRepo+":live"), svc("cache", "redis:7"))
	e.eng.run("shop", "web", dg("v1"))

	events := []forge.Event{
		{Kind: forge.KindImage, Repository: "docker.io/library/redis", Tag: "7", Digest: dg("redis")},
		{Kind: forge.KindImage, Repository: shopRepo, Tag: "v2"},
	}
	queued, ignored, err := e.d.Submit(t.Context(), events)
	if err != nil {
		t.Fatal(err)
	}
	if len(queued) != 0 {
		t.Errorf("Submit queued %+v, want nothing", queued)
	}
	for _, img := range []string{"docker.io/library/redis:7", shopRepo + ":v2"} {
		if !strings.Contains(ignored, img) {
			t.Errorf("ignored reason %q does not mention %s", ignored, img)
		}
	}
	if h := e.history(t, "shop"); len(h) != 0 {
		t.Errorf("ledger holds %d deploys, want none", len(h))
	}
}

func TestSubmitFailsWhenProjectsCannotBeListed(t *testing.T) {
	e := newEnv(t)
	e.eng.addProject("shop", enabled("web", shopRepo+":live"))
	e.eng.run("shop", "web", dg("v1"))
	e.eng.failProjects(errors.New("Cannot connect to the Docker daemon"))

	queued, _, err := e.d.Submit(t.Context(), []forge.Event{pushEvent(dg("v2"), "")})
	if err == nil {
		t.Fatal("Submit succeeded, want an error")
	}
	if len(queued) != 0 {
		t.Errorf("Submit queued %+v alongside its error", queued)
	}
}

// TestSubmitCoalescesQueuedPushes submits two pushes for the same service
// before any worker runs: they share one deploy, and the newest digest wins.
func TestSubmitCoalescesQueuedPushes(t *testing.T) {
	e := newEnv(t)
	e.eng.addProject("shop", enabled("web", shopRepo+":live"), enabled("worker", shopRepo+":live"))
	e.eng.run("shop", "web", dg("v0"))
	e.eng.run("shop", "worker", dg("v0"))
	a, b := dg("A"), dg("B")
	e.eng.push(shopRepo, "live", a)
	e.eng.push(shopRepo, "live", b)

	first, _, err := e.d.Submit(t.Context(), []forge.Event{pushEvent(a, "d-a")})
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := e.d.Submit(t.Context(), []forge.Event{pushEvent(b, "d-b")})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || len(second) != 1 || first[0].ID != second[0].ID {
		t.Fatalf("Submit answers %+v then %+v, want the same single deploy", first, second)
	}

	e.startRun(t)
	rec := e.waitFinal(t, first[0].ID)
	if rec.Status != forge.StatusSucceeded {
		t.Fatalf("deploy %s %q, want succeeded", rec.Status, rec.Error)
	}
	if rec.Trigger.Delivery != "d-b" {
		t.Errorf("trigger %+v, want the newest delivery d-b", rec.Trigger)
	}
	ups := e.eng.upCalls("shop")
	want := map[string]string{"web": shopRepo + "@" + b, "worker": shopRepo + "@" + b}
	if len(ups) != 1 || len(ups[0].Pins) != len(want) || ups[0].Pins["web"] != want["web"] || ups[0].Pins["worker"] != want["worker"] {
		t.Errorf("Up calls = %+v, want one call pinning %v", ups, want)
	}
	if slices.Contains(e.eng.resolves(), shopRepo+"@"+a) {
		t.Errorf("resolved %v: the superseded digest A should not be confirmed", e.eng.resolves())
	}
	if h := e.history(t, "shop"); len(h) != 1 {
		t.Errorf("ledger holds %d deploys, want 1", len(h))
	}
}

// TestQueuedDeployFailsGenericallyWhenProjectNoLongerLoads breaks the compose
// model between Submit and the worker's turn.
func TestQueuedDeployFailsGenericallyWhenProjectNoLongerLoads(t *testing.T) {
	e := newEnv(t, "hunter2")
	e.eng.addProject("shop", enabled("web", shopRepo+":live"))
	e.eng.run("shop", "web", dg("v1"))
	e.eng.push(shopRepo, "live", dg("v2"))

	queued, _, err := e.d.Submit(t.Context(), []forge.Event{pushEvent(dg("v2"), "")})
	if err != nil || len(queued) != 1 {
		t.Fatalf("Submit = %+v, %v", queued, err)
	}
	e.eng.failLoad("shop", errors.New("compose.yaml: interpolate ${DB_PASSWORD}: password=hunter2"))
	e.startRun(t)

	rec := e.waitFinal(t, queued[0].ID)
	if rec.Status != forge.StatusFailed || rec.Error != reasonLoad {
		t.Errorf("deploy %s %q, want failed %q", rec.Status, rec.Error, reasonLoad)
	}
	if ups := e.eng.upCalls("shop"); len(ups) != 0 {
		t.Errorf("Up called %+v after the project failed to load", ups)
	}
	eventually(t, func() bool { return strings.Contains(e.log.String(), reasonLoad) })
	if strings.Contains(e.log.String(), "hunter2") {
		t.Errorf("log contains the secret:\n%s", e.log.String())
	}
}

// TestSubmitFindsProjectsKnownOnlyToTheLedger checks that a project forge
// deployed before still receives pushes while its containers are down.
// TestPushLeavesAStoppedProjectDown: a project the user took down with
// compose down is remembered in the ledger, but a push does not bring it
// back; a manual deploy by name still can.
func TestPushLeavesAStoppedProjectDown(t *testing.T) {
	e := newEnv(t)
	e.eng.addProject("shop", enabled("web", shopRepo+":live"), svc("db", "postgres:16"))
	e.eng.run("shop", "web", dg("v0"))
	e.eng.push(shopRepo, "live", dg("v1"))
	e.eng.push("docker.io/library/postgres", "16", dg("pg"))
	if _, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	e.eng.mu.Lock()
	delete(e.eng.running, "shop") // compose down
	e.eng.mu.Unlock()

	e.eng.push(shopRepo, "live", dg("v2"))
	queued, ignored, err := e.d.Submit(t.Context(), []forge.Event{pushEvent(dg("v2"), "")})
	if err != nil || len(queued) != 0 || !strings.Contains(ignored, "no forge-enabled service uses") {
		t.Fatalf("Submit = %+v, %q, %v; want nothing queued for a project that is down", queued, ignored, err)
	}
	if _, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}}); err != nil {
		t.Fatalf("a manual deploy of a remembered project: %v", err)
	}
	ups := e.eng.upCalls("shop")
	if last := ups[len(ups)-1]; !last.Whole {
		t.Errorf("last Up %+v: a manual deploy of a project without containers brings it up whole", last)
	}
}

// TestLateOrReplayedPushDoesNotMoveAServiceBack: a push whose digest the tag
// no longer points at (delivered late, or replayed by someone who captured
// it) deploys what the tag points at now.
func TestLateOrReplayedPushDoesNotMoveAServiceBack(t *testing.T) {
	e := newEnv(t)
	v1, v2 := dg("v1"), dg("v2")
	e.eng.addProject("shop", enabled("web", shopRepo+":live"))
	e.eng.run("shop", "web", v2)
	e.eng.push(shopRepo, "live", v2)
	e.startRun(t)
	queued, _, err := e.d.Submit(t.Context(), []forge.Event{pushEvent(v1, "old-delivery")})
	if err != nil || len(queued) != 1 {
		t.Fatalf("Submit = %+v, %v", queued, err)
	}
	rec := e.waitFinal(t, queued[0].ID)
	if s, _ := rec.Service("web"); rec.Status != forge.StatusSucceeded || s.Digest != v2 || s.Changed {
		t.Fatalf("a stale push of v1 gave %+v; want web left on v2, not recreated", rec)
	}
	if r := e.eng.running["shop"]["web"]; r.ContainerID != "ctr-1" {
		t.Fatalf("web was recreated though it runs the tag's digest: %+v", r)
	}
}

// TestPushesWaitForTheEngine: with the engine unreachable a push is still
// queued (matched against the projects forge deployed before), stays queued
// while the engine is down, and deploys once it is back.
func TestPushesWaitForTheEngine(t *testing.T) {
	e := newEnv(t)
	e.eng.addProject("shop", enabled("web", shopRepo+":live"))
	e.eng.run("shop", "web", dg("v1"))
	if err := e.led.SaveProject(forge.ProjectRef{Name: "shop"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	down := fmt.Errorf("dial unix /var/run/docker.sock: %w", forge.ErrEngineUnavailable)
	e.eng.failProjects(down)
	e.eng.failUp("shop", down)
	e.eng.push(shopRepo, "live", dg("v2"))

	queued, ignored, err := e.d.Submit(t.Context(), []forge.Event{pushEvent(dg("v2"), "d-down")})
	if err != nil || len(queued) != 1 {
		t.Fatalf("Submit with the engine down = %+v, %q, %v; want the push queued", queued, ignored, err)
	}
	e.startRun(t)
	time.Sleep(300 * time.Millisecond)
	if rec, _ := e.led.Get(queued[0].ID); rec.Status != forge.StatusQueued {
		t.Fatalf("with the engine down the deploy is %s %q, want still queued", rec.Status, rec.Error)
	}
	e.eng.failProjects(nil)
	e.eng.failUp("shop", nil)
	if rec := e.waitFinal(t, queued[0].ID); rec.Status != forge.StatusSucceeded {
		t.Fatalf("once the engine is back: %+v", rec)
	}
	if r, _ := e.eng.Running(t.Context(), "shop"); r["web"].Digest != dg("v2") {
		t.Fatalf("web runs %s, want v2", r["web"].Digest)
	}
}

func TestQueueIsBounded(t *testing.T) {
	e := newEnvConfig(t, Config{MaxQueued: 1})
	for _, name := range []string{"a", "b"} {
		e.eng.addProject(name, enabled("web", shopRepo+":live"))
		e.eng.run(name, "web", dg("v1"))
	}
	e.eng.push(shopRepo, "live", dg("v2"))
	_, _, err := e.d.Submit(t.Context(), []forge.Event{pushEvent(dg("v2"), "d-1")})
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Submit for two projects with room for one = %v, want ErrQueueFull", err)
	}
}

// TestDeliveryIsQueuedWholeOrNotAtAll: with room for one more project and a
// push for two, nothing is queued, so the sender's retry cannot queue the
// first project twice.
func TestDeliveryIsQueuedWholeOrNotAtAll(t *testing.T) {
	e := newEnvConfig(t, Config{MaxQueued: 1})
	for _, name := range []string{"a", "b"} {
		e.eng.addProject(name, enabled("web", shopRepo+":live"))
		e.eng.run(name, "web", dg("v1"))
	}
	e.eng.push(shopRepo, "live", dg("v2"))
	if _, _, err := e.d.Submit(t.Context(), []forge.Event{pushEvent(dg("v2"), "d-1")}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Submit = %v, want ErrQueueFull", err)
	}
	if un, _ := e.led.Unfinished(); len(un) != 0 {
		t.Fatalf("a refused delivery left %d queued deploys", len(un))
	}
}
