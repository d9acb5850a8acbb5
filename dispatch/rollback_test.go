package dispatch

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

func TestRollback(t *testing.T) {
	const (
		webRepo = "ghcr.io/acme/web"
		apiRepo = "ghcr.io/acme/api"
	)
	web1, web2 := dg("web-v1"), dg("web-v2")
	api1, api2 := dg("api-v1"), dg("api-v2")

	// deployed has run deploys of shop, returned oldest first: v1, v2 and,
	// with a failing third, one that failed.
	type deployed struct{ v1, v2, failed forge.Deploy }
	tests := []struct {
		name string
		// single deploys v1 only; webUnchanged keeps web at web1 in v2;
		// redeploy deploys v2 a second time (a no-op); withFailed adds a
		// failed deploy last.
		single, webUnchanged, redeploy, withFailed bool

		req      func(d deployed) RollbackRequest
		wantErr  error // nil: success; errAny: any error
		wantPins map[string]string
	}{
		{
			name:     "To=0 returns to the successful deploy before the current one",
			req:      func(deployed) RollbackRequest { return RollbackRequest{Project: "shop", User: "bob"} },
			wantPins: map[string]string{"web": webRepo + "@" + web1, "api": apiRepo + "@" + api1},
		},
		{
			name:     "To names the deploy",
			req:      func(d deployed) RollbackRequest { return RollbackRequest{Project: "shop", To: d.v1.ID} },
			wantPins: map[string]string{"web": webRepo + "@" + web1, "api": apiRepo + "@" + api1},
		},
		{
			name:     "To=0 skips failed deploys",
			req:      func(deployed) RollbackRequest { return RollbackRequest{Project: "shop"} },
			wantPins: map[string]string{"web": webRepo + "@" + web1, "api": apiRepo + "@" + api1}, withFailed: true,
		},
		{
			name:     "a services filter pins only those services",
			req:      func(deployed) RollbackRequest { return RollbackRequest{Project: "shop", Services: []string{"web"}} },
			wantPins: map[string]string{"web": webRepo + "@" + web1},
		},
		{
			name:     "To=0 skips a redeploy of the current digests",
			redeploy: true,
			req:      func(deployed) RollbackRequest { return RollbackRequest{Project: "shop"} },
			wantPins: map[string]string{"web": webRepo + "@" + web1, "api": apiRepo + "@" + api1},
		},
		{
			name:         "a services filter looks for an earlier digest of those services",
			webUnchanged: true,
			req:          func(deployed) RollbackRequest { return RollbackRequest{Project: "shop", Services: []string{"api"}} },
			wantPins:     map[string]string{"api": apiRepo + "@" + api1},
		},
		{
			name:         "a services filter whose services never changed has nothing to roll back",
			webUnchanged: true,
			req:          func(deployed) RollbackRequest { return RollbackRequest{Project: "shop", Services: []string{"web"}} },
			wantErr:      ErrNothingToRollBack,
		},
		{
			name:       "To pointing at a failed deploy is an error",
			withFailed: true,
			req:        func(d deployed) RollbackRequest { return RollbackRequest{Project: "shop", To: d.failed.ID} },
			wantErr:    errAny,
		},
		{
			name:    "To pointing at a deploy that does not exist is an error",
			req:     func(deployed) RollbackRequest { return RollbackRequest{Project: "shop", To: 999} },
			wantErr: errAny,
		},
		{
			name:    "a services filter naming a service the deploy lacks is an error",
			req:     func(deployed) RollbackRequest { return RollbackRequest{Project: "shop", Services: []string{"db"}} },
			wantErr: errAny,
		},
		{
			name:    "no earlier successful deploy",
			single:  true,
			req:     func(deployed) RollbackRequest { return RollbackRequest{Project: "shop"} },
			wantErr: ErrNothingToRollBack,
		},
		{
			name:    "a project never deployed is named unknown",
			req:     func(deployed) RollbackRequest { return RollbackRequest{Project: "blog"} },
			wantErr: ErrUnknownProject,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.eng.addProject("shop", enabled("web", webRepo+":live"), enabled("api", apiRepo+":live"), svc("db", "postgres:16"))
			e.eng.run("shop", "web", dg("web-v0"))
			e.eng.run("shop", "api", dg("api-v0"))
			e.eng.run("shop", "db", dg("pg"))

			var d deployed
			deploy := func() (forge.Deploy, error) {
				return e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}, Services: []string{"api", "web"}})
			}
			e.eng.push(webRepo, "live", web1)
			e.eng.push(apiRepo, "live", api1)
			var err error
			if d.v1, err = deploy(); err != nil {
				t.Fatal(err)
			}
			if !tt.single {
				if !tt.webUnchanged {
					e.eng.push(webRepo, "live", web2)
				}
				e.eng.push(apiRepo, "live", api2)
				if d.v2, err = deploy(); err != nil {
					t.Fatal(err)
				}
			}
			if tt.redeploy {
				if _, err = deploy(); err != nil {
					t.Fatal(err)
				}
			}
			if tt.withFailed {
				e.eng.push(webRepo, "live", dg("web-v3"))
				e.eng.failUp("shop", errors.New("pull access denied"))
				if d.failed, err = deploy(); err == nil {
					t.Fatal("third deploy succeeded, want it to fail")
				}
				e.eng.failUp("shop", nil)
			}
			upsBefore := len(e.eng.upCalls("shop"))
			resolvesBefore := len(e.eng.resolves())
			histBefore := len(e.history(t, "shop"))

			req := tt.req(d)
			got, err := e.d.Rollback(t.Context(), req)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Rollback succeeded (%+v), want an error", got)
				}
				if tt.wantErr != errAny && !errors.Is(err, tt.wantErr) {
					t.Errorf("Rollback error %v, want %v", err, tt.wantErr)
				}
				if n := len(e.history(t, "shop")); n != histBefore {
					t.Errorf("ledger went from %d to %d deploys, want nothing recorded", histBefore, n)
				}
				if n := len(e.eng.upCalls("shop")); n != upsBefore {
					t.Errorf("Up called on a refused rollback")
				}
				return
			}
			if err != nil {
				t.Fatalf("Rollback: %v", err)
			}

			ups := e.eng.upCalls("shop")[upsBefore:]
			if len(ups) != 1 || !maps.Equal(ups[0].Pins, tt.wantPins) {
				t.Errorf("Up calls = %+v, want one pinning %v", ups, tt.wantPins)
			}
			if r := e.eng.resolves()[resolvesBefore:]; len(r) != 0 {
				t.Errorf("rollback resolved %v; replaying recorded digests needs no registry", r)
			}
			rec, err := e.led.Get(got.ID)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != forge.StatusSucceeded || rec.Reason != forge.ReasonRollback || rec.RollbackOf != d.v1.ID || rec.Trigger.User != req.User {
				t.Errorf("recorded %s reason %s rollback_of %d user %q; want succeeded rollback of %d by %q",
					rec.Status, rec.Reason, rec.RollbackOf, rec.Trigger.User, d.v1.ID, req.User)
			}
			if len(rec.Services) != len(tt.wantPins) {
				t.Errorf("recorded services %+v, want %d", rec.Services, len(tt.wantPins))
			}
			for _, s := range rec.Services {
				if s.Pinned != tt.wantPins[s.Service] || s.Digest != digestOf(s.Pinned) || !s.Changed {
					t.Errorf("recorded %+v, want it pinned to %s and changed", s, tt.wantPins[s.Service])
				}
			}
		})
	}
}

// errAny stands for "some error" in tables.
var errAny = errors.New("any error")

// TestRecoverRunsWhatAPreviousDaemonLeftUnfinished: a queued push (the
// durable inbox) is deployed after a restart; a deploy that was running is
// marked interrupted and converged again by a new deploy with the same
// targets; final deploys are left alone.
func TestRecoverRunsWhatAPreviousDaemonLeftUnfinished(t *testing.T) {
	const webRepo = "ghcr.io/acme/web"
	e := newEnv(t)
	e.eng.addProject("shop", enabled("web", webRepo+":live"))
	e.eng.addProject("blog", enabled("web", webRepo+":live"))
	e.eng.run("shop", "web", dg("v1"))
	e.eng.run("blog", "web", dg("v1"))
	e.eng.push(webRepo, "live", dg("v2"))
	for _, name := range []string{"shop", "blog"} {
		if err := e.led.SaveProject(forge.ProjectRef{Name: name}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	target := []forge.ServiceDeploy{{Service: "web", Image: webRepo + ":live", Requested: dg("v2")}}
	queued := forge.Deploy{Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusQueued, Queued: time.Now(), Services: target,
		Trigger: forge.Trigger{Provider: "distribution", Delivery: "d-7"}}
	running := forge.Deploy{Project: "blog", Reason: forge.ReasonPush, Status: forge.StatusRunning, Queued: time.Now(), Started: time.Now(), Services: target}
	done := forge.Deploy{Project: "shop", Reason: forge.ReasonManual, Status: forge.StatusSucceeded, Queued: time.Now()}
	failed := forge.Deploy{Project: "shop", Reason: forge.ReasonManual, Status: forge.StatusFailed, Error: reasonUp, Queued: time.Now()}
	for _, dep := range []*forge.Deploy{&done, &failed, &queued, &running} {
		if err := e.led.Create(dep); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.d.Recover(); err != nil {
		t.Fatal(err)
	}
	if rec, _ := e.led.Get(running.ID); rec.Status != forge.StatusInterrupted || rec.Error != reasonInterrupt || rec.Finished.IsZero() {
		t.Fatalf("the running deploy after Recover: %+v, want interrupted", rec)
	}
	for _, id := range []uint64{done.ID, failed.ID} {
		if rec, _ := e.led.Get(id); !rec.Status.Final() || rec.Finished != (time.Time{}) && rec.Error == reasonInterrupt {
			t.Fatalf("a final deploy was touched: %+v", rec)
		}
	}
	e.startRun(t)
	if rec := e.waitFinal(t, queued.ID); rec.Status != forge.StatusSucceeded || rec.Trigger.Delivery != "d-7" {
		t.Fatalf("the queued push after a restart: %+v, want deployed", rec)
	}
	hist, _ := e.led.History("blog", 0)
	if len(hist) != 2 || hist[0].ID == running.ID {
		t.Fatalf("blog history %+v, want the interrupted deploy and a new one converging again", hist)
	}
	if rec := e.waitFinal(t, hist[0].ID); rec.Status != forge.StatusSucceeded {
		t.Fatalf("the converging deploy: %+v", rec)
	}
	for _, project := range []string{"shop", "blog"} {
		if r, _ := e.eng.Running(t.Context(), project); r["web"].Digest != dg("v2") {
			t.Fatalf("%s runs %s, want v2", project, r["web"].Digest)
		}
		if n := len(e.eng.upCalls(project)); n != 1 {
			t.Fatalf("%s: %d compose ups, want exactly one", project, n)
		}
	}
	if left, err := e.led.Unfinished(); err != nil || len(left) != 0 {
		t.Errorf("unfinished after the queue drained: %+v, %v", left, err)
	}
}

// TestRollbackUndoesTheNewestDeployPerService: deploy 1 {web:A, api:X},
// deploy 2 {api:Y}, deploy 3 {web:B}; a rollback undoes deploy 3 (web back
// to A) and leaves api on Y, where a whole-project choice would have
// replayed deploy 2 and changed nothing.
func TestRollbackUndoesTheNewestDeployPerService(t *testing.T) {
	const webRepo, apiRepo = "ghcr.io/acme/web", "ghcr.io/acme/api"
	e := newEnv(t)
	e.eng.addProject("shop", enabled("web", webRepo+":live"), enabled("api", apiRepo+":live"))
	e.eng.run("shop", "web", dg("web-v0"))
	e.eng.run("shop", "api", dg("api-v0"))
	deploy := func(services ...string) forge.Deploy {
		d, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}, Services: services})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	e.eng.push(webRepo, "live", dg("A"))
	e.eng.push(apiRepo, "live", dg("X"))
	first := deploy()
	e.eng.push(apiRepo, "live", dg("Y"))
	deploy("api")
	e.eng.push(webRepo, "live", dg("B"))
	deploy("web")

	rb, err := e.d.Rollback(t.Context(), RollbackRequest{Project: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if rb.RollbackOf != first.ID || len(rb.Services) != 1 {
		t.Fatalf("rollback = %+v, want web alone, back to deploy %d", rb, first.ID)
	}
	if s, _ := rb.Service("web"); s.Digest != dg("A") {
		t.Fatalf("web after rollback = %+v, want A", s)
	}
	if r, _ := e.eng.Running(t.Context(), "shop"); r["api"].Digest != dg("Y") {
		t.Fatalf("api moved to %s, want it left on Y", r["api"].Digest)
	}
}

// TestRecoverJoinsAnInterruptedDeployToTheQueuedOne: a crash left one
// deploy running (web to v2) and a newer one queued (web to v3, api to v3):
// the queued one runs with its newer targets, and nothing older runs after.
func TestRecoverJoinsAnInterruptedDeployToTheQueuedOne(t *testing.T) {
	const webRepo, apiRepo = "ghcr.io/acme/web", "ghcr.io/acme/api"
	e := newEnv(t)
	e.eng.addProject("shop", enabled("web", webRepo+":live"), enabled("api", apiRepo+":live"), enabled("db", "ghcr.io/acme/db:1"))
	e.eng.run("shop", "web", dg("v1"))
	e.eng.run("shop", "api", dg("a1"))
	e.eng.run("shop", "db", dg("d1"))
	e.eng.push(webRepo, "live", dg("v3"))
	e.eng.push(apiRepo, "live", dg("a3"))
	e.eng.push("ghcr.io/acme/db", "1", dg("d2"))
	if err := e.led.SaveProject(forge.ProjectRef{Name: "shop"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	running := forge.Deploy{Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusRunning, Services: []forge.ServiceDeploy{
		{Service: "web", Image: webRepo + ":live", Requested: dg("v2")}, {Service: "db", Image: "ghcr.io/acme/db:1", Requested: dg("d2")}}}
	queued := forge.Deploy{Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusQueued, Services: []forge.ServiceDeploy{
		{Service: "web", Image: webRepo + ":live", Requested: dg("v3")}, {Service: "api", Image: apiRepo + ":live", Requested: dg("a3")}}}
	for _, dep := range []*forge.Deploy{&running, &queued} {
		if err := e.led.Create(dep); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.d.Recover(); err != nil {
		t.Fatal(err)
	}
	e.startRun(t)
	rec := e.waitFinal(t, queued.ID)
	if rec.Status != forge.StatusSucceeded || len(rec.Services) != 3 {
		t.Fatalf("the queued deploy = %+v, want it to run web, api and the interrupted deploy's db", rec)
	}
	hist, _ := e.led.History("shop", 0)
	if hist[0].ID != queued.ID {
		t.Fatalf("newest deploy is %d, want the queued one %d: nothing older may run after it", hist[0].ID, queued.ID)
	}
	r, _ := e.eng.Running(t.Context(), "shop")
	if r["web"].Digest != dg("v3") || r["api"].Digest != dg("a3") || r["db"].Digest != dg("d2") {
		t.Fatalf("runs web %s api %s db %s", r["web"].Digest, r["api"].Digest, r["db"].Digest)
	}
}
