package dispatch

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/docker-forge/docker-forge"
)

// TestSwarmRollbackIsAFailedDeploy: an update that the swarm rolled back
// itself (update_config failure_action: rollback) is recorded as failed
// with its own generic reason, with what runs afterwards read back, and
// forge rolls nothing back on top of it.
func TestSwarmRollbackIsAFailedDeploy(t *testing.T) {
	const repo = "reg.example/acme/web"
	old, fresh := dg("old"), dg("fresh")
	e := newEnv(t)
	e.eng.addProject("shop", forge.Service{Name: "web", Image: repo + ":live", Labels: map[string]string{
		forge.LabelEnable: "true", forge.LabelRollback: "auto",
	}})
	e.eng.push(repo, "live", fresh)
	e.eng.run("shop", "web", old)
	e.eng.failUp("shop", fmt.Errorf("up stack shop: service web: %w: update rolled back due to failure", forge.ErrRolledBack))

	_, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}})
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("Deploy error = %v, want a *Failure", err)
	}
	hist := e.history(t, "shop")
	if len(hist) != 1 {
		t.Fatalf("ledger holds %d deploys, want the failed one only (no rollback of forge's own): %+v", len(hist), hist)
	}
	rec := hist[0]
	if rec.Status != forge.StatusFailed || rec.Error != reasonRolledBack {
		t.Errorf("recorded %s %q, want failed %q", rec.Status, rec.Error, reasonRolledBack)
	}
	if s, _ := rec.Service("web"); s.Digest != old || s.Pinned != repo+"@"+fresh {
		t.Errorf("web recorded as %+v, want pinned to %s and running %s (read back)", s, fresh, old)
	}
}

// pausedSwarm is the fake engine with the tasks of one digest failing to
// start, as a swarm update paused by its failure_action leaves them: the
// service's spec and newest tasks are at the digest, none runs.
type pausedSwarm struct {
	*fakeEngine
	failing string
}

func (p *pausedSwarm) Running(ctx context.Context, project string) (map[string]forge.Running, error) {
	m, err := p.fakeEngine.Running(ctx, project)
	for name, r := range m {
		if r.Digest == p.failing {
			r.State = "failed"
			m[name] = r
		}
	}
	return m, err
}

func (p *pausedSwarm) Health(ctx context.Context, project string) (map[string]forge.Health, error) {
	m, err := p.fakeEngine.Health(ctx, project)
	running, _ := p.Running(ctx, project)
	for name, r := range running {
		if r.State == "failed" {
			m[name] = forge.Health{State: "failed", Restarts: 2}
		}
	}
	return m, err
}

// TestPausedSwarmUpdateFollowsForgeRollback: tasks that fail to start after
// a swarm update (paused, not rolled back by the swarm) fail the health
// gate rather than the check of what runs, so forge.rollback=auto returns
// the stack to the digest that ran.
func TestPausedSwarmUpdateFollowsForgeRollback(t *testing.T) {
	const repo = "reg.example/acme/web"
	old, fresh := dg("old"), dg("fresh")
	e := newEnv(t)
	e.eng.addProject("shop", forge.Service{Name: "web", Image: repo + ":live", Labels: map[string]string{
		forge.LabelEnable: "true", forge.LabelRollback: "auto",
	}})
	p := e.eng.projects["shop"]
	p.Ref.Stack = true
	e.eng.projects["shop"] = p
	e.eng.push(repo, "live", old)
	e.eng.run("shop", "web", old)
	d := New(Config{Engine: &pausedSwarm{fakeEngine: e.eng, failing: fresh}, Ledger: e.led})
	if _, err := d.Deploy(t.Context(), Request{Ref: p.Ref}); err != nil {
		t.Fatalf("first deploy: %v", err)
	}
	e.eng.push(repo, "live", fresh)

	_, err := d.Deploy(t.Context(), Request{Ref: p.Ref})
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("Deploy error = %v, want a *Failure", err)
	}
	hist := e.history(t, "shop")
	if len(hist) != 3 {
		t.Fatalf("ledger holds %d deploys, want the first, the failed one and its rollback: %+v", len(hist), hist)
	}
	rb, failed := hist[0], hist[1]
	if failed.Status != forge.StatusFailed || failed.Error != "health gate failed: web is not running (failed)" || failed.RevertedBy != rb.ID {
		t.Errorf("failed deploy = %s %q (reverted by %d), want failed by the health gate and rolled back by %d", failed.Status, failed.Error, failed.RevertedBy, rb.ID)
	}
	if s, _ := rb.Service("web"); rb.Status != forge.StatusSucceeded || rb.Reason != forge.ReasonRollback || s.Digest != old {
		t.Errorf("rollback = %+v, want a succeeded rollback to %s", rb, old)
	}
}
