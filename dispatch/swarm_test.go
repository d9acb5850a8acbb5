package dispatch

import (
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
