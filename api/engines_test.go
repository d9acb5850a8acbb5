package api_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
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
