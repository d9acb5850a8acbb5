package api_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/collector"
	"github.com/docker-forge/docker-forge/ledger"
)

// TestEnginesRouteByContext: two engines behind one daemon, through the real
// socket. A request names its engine with the client's context; a listing
// that names none covers both, each project with its engine; an engine the
// daemon does not drive is a 404 that names the ones it does.
func TestEnginesRouteByContext(t *testing.T) {
	home := openLedger(t)
	edge := home.Engine("edge")
	for _, c := range []struct {
		led interface{ Create(*forge.Deploy) error }
		svc string
	}{{home, "web"}, {edge, "api"}} {
		d := forge.Deploy{Project: "shop", Status: forge.StatusSucceeded, Queued: time.Now(),
			Services: []forge.ServiceDeploy{{Service: c.svc, Digest: "sha256:aa"}}}
		if err := c.led.Create(&d); err != nil {
			t.Fatal(err)
		}
	}
	model := func(svc string) *fakeLister {
		return &fakeLister{refs: []forge.ProjectRef{{Name: "shop"}}, models: map[string]forge.Project{
			"shop": {Services: []forge.Service{{Name: svc, Image: "shop/" + svc, Labels: map[string]string{forge.LabelEnable: "true"}}}}}}
	}
	engines := api.Engines{
		{Name: "default", Ledger: home, Engine: model("web")},
		{Name: "edge", Ledger: edge, Engine: model("api")},
	}
	c := dial(t, engines)

	all, err := c.Projects(t.Context())
	if err != nil || len(all) != 2 || all[0].Engine != "default" || all[1].Engine != "edge" ||
		all[0].Services[0].Name != "web" || all[1].Services[0].Name != "api" {
		t.Fatalf("projects of every engine = %+v, %v", all, err)
	}
	for _, want := range []struct{ engine, svc string }{{"", "web"}, {"default", "web"}, {"edge", "api"}} {
		ctx := api.WithEngine(t.Context(), want.engine)
		h, err := c.History(ctx, "shop", 0)
		if err != nil || len(h) != 1 || h[0].Services[0].Service != want.svc {
			t.Fatalf("history on %q = %+v, %v; want the deploy of %s", want.engine, h, err, want.svc)
		}
		ps, err := c.Projects(ctx)
		if want.engine != "" && (err != nil || len(ps) != 1 || ps[0].Engine != want.engine) {
			t.Fatalf("projects on %q = %+v, %v", want.engine, ps, err)
		}
	}
	_, err = c.History(api.WithEngine(t.Context(), "nosuch"), "shop", 0)
	var remote *api.RemoteError
	if !errors.As(err, &remote) || remote.Status != http.StatusNotFound || !api.IsNotFound(err) {
		t.Fatalf("history on an engine not driven = %v, want a 404", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `"nosuch"`) || !strings.Contains(msg, "default, edge") {
		t.Fatalf("the error does not say which engines the daemon drives: %q", msg)
	}
}

// TestEnginesStatsOfEveryProject: the totals of every project, asked with no
// engine (the dashboard's projects page), cover every engine, each series
// with its engine, so shop on edge is not shown with shop's figures here.
func TestEnginesStatsOfEveryProject(t *testing.T) {
	home := openLedger(t)
	now := time.Now().UTC().Truncate(time.Second)
	for _, c := range []struct {
		led *ledger.Ledger
		cpu float64
	}{{home, 10}, {home.Engine("edge"), 70}} {
		err := c.led.WriteStats(ledger.StatsWrite{Series: map[string][]forge.StatSeries{collector.TierRaw: {
			{Project: "shop", Points: []forge.StatPoint{{Time: now.Add(-time.Minute), CPU: c.cpu, Memory: 5, Samples: 1}}},
		}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	at := func() time.Time { return now }
	engines := api.Engines{
		{Name: "default", Ledger: home, Engine: &fakeLister{}, Now: at},
		{Name: "edge", Ledger: home.Engine("edge"), Engine: &fakeLister{}, Now: at},
	}
	all, err := engines.Stats(t.Context(), api.StatsQuery{})
	if err != nil || len(all) != 2 {
		t.Fatalf("totals of every engine = %+v, %v", all, err)
	}
	cpu := map[string]float64{}
	for _, s := range all {
		if s.Project == "shop" && len(s.Points) > 0 {
			cpu[s.Engine] = s.Points[len(s.Points)-1].CPU
		}
	}
	if cpu["default"] != 10 || cpu["edge"] != 70 {
		t.Fatalf("shop's CPU by engine = %v, want 10 on default and 70 on edge", cpu)
	}
	one, err := engines.Stats(api.WithEngine(t.Context(), "edge"), api.StatsQuery{})
	if err != nil || len(one) != 1 || one[0].Engine != "edge" {
		t.Fatalf("totals on edge = %+v, %v", one, err)
	}
}
