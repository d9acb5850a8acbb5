package dispatch

import (
	"errors"
	"testing"

	"github.com/docker-forge/docker-forge"
)

// TestRollbackTakesItsTurn: deploys of a project run in the order they were
// asked for, whoever asked. A rollback issued while a deploy runs and a push
// waits runs after both, and chooses its target then (it undoes the push,
// which had not even started when it was asked for); a push that arrives
// after the rollback does not join the push queued before it, but runs
// after the rollback. With NoWait the rollback is refused, naming the
// deploy that runs.
func TestRollbackTakesItsTurn(t *testing.T) {
	e := newEnv(t)
	v0, v1, v2, v3 := dg("v0"), dg("v1"), dg("v2"), dg("v3")
	e.eng.addProject("shop", enabled("web", shopRepo+":live"))
	e.eng.run("shop", "web", v0)
	e.eng.push(shopRepo, "live", v1)
	e.startRun(t)

	// A manual deploy to v1 holds the project, blocked inside Up.
	gate := e.eng.block("shop")
	type result struct {
		dep forge.Deploy
		err error
	}
	manual := make(chan result, 1)
	go func() {
		dep, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}})
		manual <- result{dep, err}
	}()
	<-e.eng.entered

	// A push of v2 queues behind it. (Found by polling, so each push
	// deploys its own digest rather than the tag's newest.)
	polled := func(digest string) []forge.Event {
		return []forge.Event{{Kind: forge.KindImage, Provider: forge.ProviderPoll, Repository: shopRepo, Tag: "live", Digest: digest}}
	}
	p2, _, err := e.d.Submit(t.Context(), polled(v2))
	if err != nil || len(p2) != 1 {
		t.Fatalf("Submit v2 = %+v, %v", p2, err)
	}

	_, err = e.d.Rollback(t.Context(), RollbackRequest{Project: "shop", NoWait: true})
	if busy, ok := errors.AsType[*BusyError](err); !ok || busy.Status != forge.StatusRunning || busy.ID == 0 {
		t.Fatalf("rollback with NoWait while a deploy runs: %v; want a BusyError naming the running deploy", err)
	}

	rollback := make(chan result, 1)
	go func() {
		dep, err := e.d.Rollback(t.Context(), RollbackRequest{Project: "shop"})
		rollback <- result{dep, err}
	}()
	// The rollback is in line once the push it follows no longer takes in
	// pushes: a push of v3 now queues a deploy of its own.
	eventually(t, func() bool {
		e.d.mu.Lock()
		defer e.d.mu.Unlock()
		return len(e.d.lines["shop"]) == 3
	})
	p3, _, err := e.d.Submit(t.Context(), polled(v3))
	if err != nil || len(p3) != 1 || p3[0].ID == p2[0].ID {
		t.Fatalf("Submit v3 = %+v, %v; want a deploy of its own behind the rollback (not joining %d)", p3, err, p2[0].ID)
	}

	close(gate)
	m, rb := <-manual, <-rollback
	if m.err != nil || rb.err != nil {
		t.Fatalf("manual deploy: %v; rollback: %v", m.err, rb.err)
	}
	pushed2, pushed3 := e.waitFinal(t, p2[0].ID), e.waitFinal(t, p3[0].ID)

	// In the order asked: v1 (manual), v2 (push), back to v1 (rollback), v3.
	order := []struct {
		dep    forge.Deploy
		digest string
	}{{m.dep, v1}, {pushed2, v2}, {rb.dep, v1}, {pushed3, v3}}
	for i, o := range order {
		s, _ := o.dep.Service("web")
		if o.dep.Status != forge.StatusSucceeded || s.Digest != o.digest {
			t.Errorf("step %d: deploy %d %s web on %s, want succeeded on %s", i+1, o.dep.ID, o.dep.Status, s.Digest, o.digest)
		}
		if i > 0 && !o.dep.Started.After(order[i-1].dep.Finished) && !o.dep.Started.Equal(order[i-1].dep.Finished) {
			t.Errorf("step %d started before step %d finished", i+1, i)
		}
	}
	if rb.dep.Reason != forge.ReasonRollback || rb.dep.RollbackOf != m.dep.ID {
		t.Errorf("rollback = %+v, want a rollback to deploy %d", rb.dep, m.dep.ID)
	}
	if got := e.eng.maxConcurrentUps("shop"); got != 1 {
		t.Errorf("up to %d Up calls at once, want 1", got)
	}
}

// TestNoWaitOnAnIdleProjectRuns: NoWait only refuses when something is in
// the project's line.
func TestNoWaitOnAnIdleProjectRuns(t *testing.T) {
	e := newEnv(t)
	e.eng.addProject("shop", enabled("web", shopRepo+":live"))
	e.eng.run("shop", "web", dg("v0"))
	e.eng.push(shopRepo, "live", dg("v1"))
	dep, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}, NoWait: true})
	if err != nil || dep.Status != forge.StatusSucceeded {
		t.Fatalf("deploy with NoWait of an idle project: %s, %v", dep.Status, err)
	}
	e.d.mu.Lock()
	defer e.d.mu.Unlock()
	if len(e.d.lines) != 0 || len(e.d.active) != 0 {
		t.Errorf("after the deploy, lines %v and active %v are not empty", e.d.lines, e.d.active)
	}
}
