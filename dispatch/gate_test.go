package dispatch

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

var (
	healthy   = forge.Health{Running: true, State: "running", Status: "healthy", StartedAt: time.Now()}
	unhealthy = forge.Health{Running: true, State: "running", Status: "unhealthy", StartedAt: time.Now()}
	exited    = forge.Health{Running: false, State: "exited"}
)

// gateEnv is a project whose web service runs v1 (healthy) and whose tag
// now points at v2.
func gateEnv(t *testing.T, labels map[string]string, extra ...forge.Service) *env {
	t.Helper()
	e := newEnvConfig(t, Config{HealthTimeout: 2 * time.Second, Settle: 10 * time.Millisecond})
	web := enabled("web", shopRepo+":live")
	for k, v := range labels {
		web.Labels[k] = v
	}
	e.eng.addProject("shop", append([]forge.Service{web}, extra...)...)
	e.eng.run("shop", "web", dg("v1"))
	for _, s := range extra {
		e.eng.run("shop", s.Name, dg(s.Name))
	}
	e.eng.push(shopRepo, "live", dg("v2"))
	e.eng.healthOf = map[string]forge.Health{dg("v1"): healthy}
	return e
}

func TestUnhealthyDeployRollsBackAutomatically(t *testing.T) {
	e := gateEnv(t, nil)
	e.eng.healthOf[dg("v2")] = unhealthy
	d, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}})
	if err == nil || d.Status != forge.StatusFailed || d.Error != "health gate failed: web is unhealthy" {
		t.Fatalf("deploy of an unhealthy v2 = %+v, %v; want failed by the gate", d, err)
	}
	if d.RevertedBy == 0 {
		t.Fatalf("the failed deploy does not name its rollback: %+v", d)
	}
	rb, err := e.led.Get(d.RevertedBy)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := rb.Service("web")
	if rb.Status != forge.StatusSucceeded || rb.Reason != forge.ReasonRollback || rb.Reverts != d.ID || s.Digest != dg("v1") {
		t.Fatalf("rollback = %+v, want a succeeded rollback of deploy %d to v1", rb, d.ID)
	}
	if r, _ := e.eng.Running(t.Context(), "shop"); r["web"].Digest != dg("v1") {
		t.Fatalf("web runs %s after the rollback, want v1", r["web"].Digest)
	}
	if got, _ := e.led.Get(d.ID); got.RevertedBy != rb.ID || got.Status != forge.StatusFailed {
		t.Fatalf("the ledger's failed deploy = %+v, want linked to rollback %d", got, rb.ID)
	}
}

func TestRollbackThatFailsToo(t *testing.T) {
	e := gateEnv(t, nil)
	e.eng.healthOf[dg("v1")] = unhealthy // the old digest is broken too now
	e.eng.healthOf[dg("v2")] = unhealthy
	d, _ := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}})
	rb, err := e.led.Get(d.RevertedBy)
	if err != nil || rb.Status != forge.StatusFailed {
		t.Fatalf("rollback = %+v, %v; want failed", rb, err)
	}
	if n := len(e.eng.upCalls("shop")); n != 2 {
		t.Fatalf("%d compose ups, want 2 (the deploy and one rollback): nothing may loop", n)
	}
	why, _ := e.led.Attention("shop")
	if !strings.Contains(why, "needs") && !strings.Contains(why, "failed") {
		t.Fatalf("attention = %q, want the project marked", why)
	}
	// The next good deploy clears the mark.
	e.eng.healthOf[dg("v3")] = healthy
	e.eng.push(shopRepo, "live", dg("v3"))
	if _, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	if why, _ := e.led.Attention("shop"); why != "" {
		t.Fatalf("attention = %q after a good deploy, want cleared", why)
	}
}

func TestGate(t *testing.T) {
	tests := []struct {
		name       string
		labels     map[string]string
		v2         forge.Health
		extra      []forge.Service
		extraState forge.Health
		wantErr    string // "" for a pass
		wantRB     bool
	}{
		{name: "healthy passes", v2: healthy},
		{name: "no healthcheck, settled", v2: forge.Health{Running: true, State: "running", StartedAt: time.Now().Add(-time.Minute)}},
		{name: "exited fails, no rollback without a healthcheck", v2: exited, wantErr: "web is not running (exited)"},
		{name: "exited with forge.rollback=auto rolls back", labels: map[string]string{forge.LabelRollback: "auto"}, v2: exited, wantErr: "not running", wantRB: true},
		{name: "unhealthy with forge.rollback=manual stays", labels: map[string]string{forge.LabelRollback: "manual"}, v2: unhealthy, wantErr: "web is unhealthy"},
		{name: "starting too long times out", labels: map[string]string{forge.LabelHealthTimeout: "300ms"}, v2: forge.Health{Running: true, State: "running", Status: "starting"}, wantErr: "web not healthy after 300ms", wantRB: true},
		{
			name: "a dependent that turns unhealthy fails the gate",
			v2:   healthy,
			extra: []forge.Service{{Name: "api", Image: "acme/api:1", DependsOn: []string{"web"},
				Labels: map[string]string{}}},
			extraState: unhealthy,
			wantErr:    "api is unhealthy",
			wantRB:     true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := gateEnv(t, tt.labels, tt.extra...)
			e.eng.healthOf[dg("v2")] = tt.v2
			for _, s := range tt.extra {
				e.eng.setHealth("shop", s.Name, tt.extraState)
				e.eng.healthOf[dg(s.Name)] = tt.extraState
			}
			d, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}, Services: []string{"web"}})
			if tt.wantErr == "" {
				if err != nil || d.Status != forge.StatusSucceeded {
					t.Fatalf("deploy = %+v, %v; want it through the gate", d, err)
				}
				return
			}
			if d.Status != forge.StatusFailed || !strings.Contains(d.Error, tt.wantErr) {
				t.Fatalf("deploy = %s %q, want failed with %q", d.Status, d.Error, tt.wantErr)
			}
			if got := d.RevertedBy != 0; got != tt.wantRB {
				t.Fatalf("rolled back = %v, want %v", got, tt.wantRB)
			}
		})
	}
}

// TestRecoveredDeployGatesEveryTarget: a crash after compose recreated web
// on an unhealthy v2 but before the gate; the deploy converging again finds
// nothing to recreate, yet gates web, fails, and rolls it back.
func TestRecoveredDeployGatesEveryTarget(t *testing.T) {
	e := gateEnv(t, nil)
	e.eng.healthOf[dg("v2")] = unhealthy
	e.eng.run("shop", "web", dg("v2")) // the crash came after the recreate
	if err := e.led.SaveProject(forge.ProjectRef{Name: "shop"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	good := forge.Deploy{Project: "shop", Reason: forge.ReasonManual, Status: forge.StatusSucceeded,
		Services: []forge.ServiceDeploy{{Service: "web", Image: shopRepo + ":live", Digest: dg("v1")}}}
	running := forge.Deploy{Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusRunning,
		Services: []forge.ServiceDeploy{{Service: "web", Image: shopRepo + ":live", Requested: dg("v2")}}}
	for _, dep := range []*forge.Deploy{&good, &running} {
		if err := e.led.Create(dep); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.d.Recover(); err != nil {
		t.Fatal(err)
	}
	e.startRun(t)
	var again forge.Deploy
	for range 200 {
		h, _ := e.led.History("shop", 0)
		if len(h) >= 4 && h[0].Status.Final() {
			again = h[1]
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if again.ID == 0 {
		h, _ := e.led.History("shop", 0)
		t.Fatalf("history never settled: %+v", h)
	}
	if again.Resumes != running.ID || again.Status != forge.StatusFailed || !strings.Contains(again.Error, "unhealthy") || again.RevertedBy == 0 {
		t.Fatalf("the deploy converging again = %+v, want it to resume %d, fail the gate and be rolled back", again, running.ID)
	}
	if r, _ := e.eng.Running(t.Context(), "shop"); r["web"].Digest != dg("v1") {
		t.Fatalf("web runs %s, want v1 (the last deploy that passed its gate)", r["web"].Digest)
	}
}

// TestExitedDependentIsNotGated: a one-shot job that depends on web and
// exited long before the deploy does not fail web's gate.
func TestExitedDependentIsNotGated(t *testing.T) {
	e := gateEnv(t, nil, forge.Service{Name: "migrate", Image: "ghcr.io/acme/migrate:1", DependsOn: []string{"web"}, Labels: map[string]string{}})
	e.eng.setRunning("shop", "migrate", "ghcr.io/acme/migrate:1", dg("migrate"))
	e.eng.mu.Lock()
	r := e.eng.running["shop"]["migrate"]
	r.State = "exited"
	e.eng.running["shop"]["migrate"] = r
	e.eng.mu.Unlock()
	e.eng.healthOf[dg("v2")] = healthy
	e.eng.healthOf[dg("migrate")] = exited
	d, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}, Services: []string{"web"}})
	if err != nil || d.Status != forge.StatusSucceeded {
		t.Fatalf("deploy = %+v, %v; an exited one-shot dependent must not fail the gate", d, err)
	}
}

// TestUnhealthyBuildRollsBackToTheImageBefore: a rebuilt local image that
// fails its gate returns to the image ID it replaced, not to a registry
// digest of that ID.
func TestUnhealthyBuildRollsBackToTheImageBefore(t *testing.T) {
	e := newEnvConfig(t, Config{HealthTimeout: 2 * time.Second, Settle: 10 * time.Millisecond})
	app := forge.Service{Name: "app", Image: "shop-app", Build: &forge.ServiceBuild{Context: "/srv/shop/app"},
		Labels: map[string]string{forge.LabelRollback: "auto"}}
	e.eng.addProject("shop", app)
	ref := forge.ProjectRef{Name: "shop", WorkingDir: "/srv/shop", ConfigFiles: []string{"/srv/shop/compose.yaml"}}
	first, err := e.d.Deploy(t.Context(), Request{Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := first.Service("app")
	// The next build's image (the fake numbers them) starts unhealthy.
	e.eng.healthOf = map[string]forge.Health{dg(fmt.Sprintf("img%d", e.eng.nextID+1)): unhealthy}
	d, err := e.d.Deploy(t.Context(), Request{Ref: ref, Build: true})
	if err == nil || d.RevertedBy == 0 {
		t.Fatalf("deploy of an unhealthy build = %+v, %v; want failed and rolled back", d, err)
	}
	rb, err := e.led.Get(d.RevertedBy)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := rb.Service("app"); rb.Status != forge.StatusSucceeded || s.Digest != good.Digest || s.Pinned != good.Digest || !s.Local {
		t.Fatalf("rollback = %+v, app %+v; want back on the local image %s", rb, s, good.Digest)
	}
}
