package dispatch

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
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

// TestNotificationsNameTheEngine: a push deploy on another engine than the
// first is told of with its engine (the message says "shop on edge" and
// links to that engine's page).
func TestNotificationsNameTheEngine(t *testing.T) {
	home := newEnv(t)
	edge := &env{eng: newFakeEngine(), led: home.led.Engine("edge"), log: &lockedBuffer{}}
	edge.d = New(Config{Engine: edge.eng, Ledger: edge.led})
	withNotifier(t, edge)
	edge.eng.addProject("shop", enabled("web", shopRepo+":live"))
	edge.eng.run("shop", "web", dg("v1"))
	edge.eng.push(shopRepo, "live", dg("v2"))
	queued, _, err := edge.d.Submit(t.Context(), []forge.Event{pushEvent(dg("v2"), "d-1")})
	if err != nil || len(queued) != 1 {
		t.Fatalf("Submit = %+v, %v", queued, err)
	}
	edge.startRun(t)
	edge.waitFinal(t, queued[0].ID)
	out, err := edge.led.Outbox(time.Now(), 100)
	if err != nil || len(out) == 0 {
		t.Fatalf("outbox = %+v, %v; want the deploy's notification", out, err)
	}
	for _, o := range out {
		if o.Deploy == nil || o.Deploy.Engine != "edge" {
			t.Fatalf("notification %s of deploy %+v, want it on edge", o.Event, o.Deploy)
		}
	}
}

// TestFanoutAnswersWhatWasQueued: an engine that cannot take a push for
// another reason than being down (an API error) does not fail the
// delivery, which the sender would retry, deploying again where it was
// queued: the others' deploys are the answer, and the error is logged.
func TestFanoutAnswersWhatWasQueued(t *testing.T) {
	home := newEnv(t)
	home.eng.addProject("shop", enabled("web", shopRepo+":live"))
	home.eng.run("shop", "web", dg("v1"))
	home.eng.push(shopRepo, "live", dg("v2"))
	broken := newFakeEngine()
	broken.failProjects(errors.New("tls: certificate signed by unknown authority"))
	buf := &lockedBuffer{}
	edge := New(Config{Engine: broken, Ledger: home.led.Engine("edge"), Logger: slog.New(slog.NewTextHandler(buf, nil))})
	queued, _, err := Fanout{home.d, edge}.Submit(t.Context(), []forge.Event{pushEvent(dg("v2"), "d-1")})
	if err != nil || len(queued) != 1 || queued[0].Engine != "default" {
		t.Fatalf("Submit = %+v, %v; want the default engine's deploy and no error", queued, err)
	}
	if log := buf.String(); !strings.Contains(log, "engine=edge") || !strings.Contains(log, "certificate") {
		t.Fatalf("the broken engine's error was not logged:\n%s", log)
	}
	// With nothing queued anywhere, the error is the answer (the sender retries).
	queued, _, err = Fanout{edge, edge}.Submit(t.Context(), []forge.Event{pushEvent(dg("v2"), "d-2")})
	if err == nil || len(queued) != 0 {
		t.Fatalf("Submit with every engine failing = %+v, %v; want an error", queued, err)
	}
}
