package dispatch

import (
	"fmt"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

// TestFanoutDeploysOnEveryEngineAndWaitsForOneThatIsDown: two engines on one
// ledger, each with its own dispatcher. One push queues a deploy on each;
// the engine that is up deploys at once, the one that is down keeps its
// deploy queued (matched against the projects the ledger knows it ran) and
// deploys once it is back.
func TestFanoutDeploysOnEveryEngineAndWaitsForOneThatIsDown(t *testing.T) {
	home := newEnv(t)
	edge := &env{eng: newFakeEngine(), led: home.led.Engine("edge"), log: &lockedBuffer{}}
	edge.d = New(Config{Engine: edge.eng, Ledger: edge.led})
	for _, e := range []*env{home, edge} {
		e.eng.addProject("shop", enabled("web", shopRepo+":live"))
		e.eng.run("shop", "web", dg("v1"))
		e.eng.push(shopRepo, "live", dg("v2"))
		if err := e.led.SaveProject(forge.ProjectRef{Name: "shop"}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	down := fmt.Errorf("dial ssh edge.example.com: %w", forge.ErrEngineUnavailable)
	edge.eng.failProjects(down)
	edge.eng.failUp("shop", down)

	queued, ignored, err := Fanout{home.d, edge.d}.Submit(t.Context(), []forge.Event{pushEvent(dg("v2"), "d-1")})
	if err != nil || ignored != "" || len(queued) != 2 {
		t.Fatalf("Submit = %+v, %q, %v; want a deploy queued on each engine", queued, ignored, err)
	}
	byEngine := map[string]forge.QueuedDeploy{}
	for _, q := range queued {
		byEngine[q.Engine] = q
	}
	if byEngine["default"].Project != "shop" || byEngine["edge"].Project != "shop" {
		t.Fatalf("queued %+v, want shop on default and on edge", queued)
	}
	home.startRun(t)
	edge.startRun(t)
	if rec := home.waitFinal(t, byEngine["default"].ID); rec.Status != forge.StatusSucceeded || rec.Engine != "default" {
		t.Fatalf("the deploy on the engine that is up = %+v", rec)
	}
	if rec, _ := edge.led.Get(byEngine["edge"].ID); rec.Status != forge.StatusQueued || rec.Engine != "edge" {
		t.Fatalf("the deploy on the engine that is down = %+v, want queued on edge", rec)
	}
	if _, err := home.led.Get(byEngine["edge"].ID); err == nil {
		t.Fatal("the default engine's ledger view shows edge's deploy")
	}
	edge.eng.failProjects(nil)
	edge.eng.failUp("shop", nil)
	if rec := edge.waitFinal(t, byEngine["edge"].ID); rec.Status != forge.StatusSucceeded {
		t.Fatalf("once edge is back: %+v", rec)
	}
	for _, e := range []*env{home, edge} {
		if r, _ := e.eng.Running(t.Context(), "shop"); r["web"].Digest != dg("v2") {
			t.Fatalf("web on %s runs %s, want v2", e.led.Scope(), r["web"].Digest)
		}
		if h := e.history(t, "shop"); len(h) != 1 {
			t.Fatalf("history of shop on %s = %+v, want its one deploy", e.led.Scope(), h)
		}
	}
}

// TestFanoutIgnoresOnlyWhatEveryEngineIgnores: a push no engine's services
// follow is ignored once, with the reason.
func TestFanoutIgnoresOnlyWhatEveryEngineIgnores(t *testing.T) {
	home := newEnv(t)
	edge := New(Config{Engine: newFakeEngine(), Ledger: home.led.Engine("edge")})
	queued, ignored, err := Fanout{home.d, edge}.Submit(t.Context(), []forge.Event{pushEvent(dg("v2"), "d-1")})
	if err != nil || len(queued) != 0 || ignored == "" {
		t.Fatalf("Submit = %+v, %q, %v; want nothing queued and a reason", queued, ignored, err)
	}
}
