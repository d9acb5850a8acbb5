package dispatch

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/docker-forge/docker-forge"
)

// TestDeployMetrics: each deploy is counted once, by project and final
// status, however many times its record is rewritten.
func TestDeployMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnvConfig(t, Config{Registerer: reg})
	e.eng.addProject("shop", enabled("web", "ghcr.io/acme/web:1"))
	e.eng.push("ghcr.io/acme/web", "1", dg("new"))
	e.eng.run("shop", "web", dg("old"))
	if _, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	e.eng.push("ghcr.io/acme/web", "1", dg("newer"))
	e.eng.failUp("shop", errors.New("pull access denied"))
	if _, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}}); err == nil {
		t.Fatal("a failed up reported no error")
	}
	m := e.d.led.m
	if got := testutil.ToFloat64(m.total.WithLabelValues("shop", "succeeded")); got != 1 {
		t.Errorf("forge_deploys_total{shop,succeeded} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.total.WithLabelValues("shop", "failed")); got != 1 {
		t.Errorf("forge_deploys_total{shop,failed} = %v, want 1", got)
	}
	// Rewriting a finished deploy does not count it again.
	h, err := e.led.History("shop", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.d.led.Update(h[0]); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.total.WithLabelValues("shop", "failed")); got != 1 {
		t.Errorf("after a rewrite forge_deploys_total{shop,failed} = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(reg, "forge_deploy_duration_seconds"); err != nil || n != 2 {
		t.Errorf("forge_deploy_duration_seconds has %d series (%v), want one per status, 2", n, err)
	}
}
