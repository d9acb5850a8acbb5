package dispatch

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/docker-forge/docker-forge"
)

// steppingClock advances by step at every reading, so each phase of a
// deploy takes a known, non-zero time.
type steppingClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *steppingClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

// TestDeployRecordsItsPhases: a deploy records how long each phase took:
// the engine's own pull and recreate split, the dispatcher's resolve,
// verify and health gate around them; the record in the ledger keeps them,
// and the phase histogram counts each.
func TestDeployRecordsItsPhases(t *testing.T) {
	clock := &steppingClock{t: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), step: 10 * time.Millisecond}
	reg := prometheus.NewRegistry()
	e := newEnvConfig(t, Config{Now: clock.now, Registerer: reg, Settle: time.Nanosecond})
	e.eng.pullTook, e.eng.recreateTook = 300*time.Millisecond, 700*time.Millisecond
	e.eng.addProject("shop", enabled("web", "ghcr.io/acme/web:1"))
	e.eng.push("ghcr.io/acme/web", "1", dg("web-new"))
	e.eng.run("shop", "web", dg("web-old"))

	got, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	p := got.Phases
	if p.Pull != 300*time.Millisecond || p.Recreate != 700*time.Millisecond {
		t.Errorf("pull %s, recreate %s; want the engine's 300ms and 700ms", p.Pull, p.Recreate)
	}
	if p.Resolve <= 0 || p.Verify <= 0 || p.Health <= 0 {
		t.Errorf("resolve %s, verify %s, health %s; want each timed", p.Resolve, p.Verify, p.Health)
	}
	if p.Queue != got.Started.Sub(got.Queued) {
		t.Errorf("queue %s, want started - queued = %s", p.Queue, got.Started.Sub(got.Queued))
	}
	// The dispatcher's phases lie between the deploy's start and finish.
	if own := p.Resolve + p.Verify + p.Health; own > got.Finished.Sub(got.Started) {
		t.Errorf("resolve+verify+health = %s, longer than the deploy's %s", own, got.Finished.Sub(got.Started))
	}
	hist := e.history(t, "shop")
	if len(hist) != 1 || hist[0].Phases != p {
		t.Fatalf("ledger keeps phases %+v, want %+v", hist[0].Phases, p)
	}
	count, err := testutil.GatherAndCount(reg, "forge_deploy_phase_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if count != len(forge.PhaseNames) {
		t.Errorf("forge_deploy_phase_seconds has %d series, want one per phase (%d)", count, len(forge.PhaseNames))
	}
}
