package dispatch

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/notify"
)

// withNotifier gives the env's dispatcher a notifier of one daemon channel
// (unmatched pushes too) and returns a func that reads the outbox's events.
func withNotifier(t *testing.T, e *env) func() []string {
	t.Helper()
	keys, err := notify.NewKeys([]byte("test key"))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := keys.Check("generic://127.0.0.1:9/hook?disabletls=yes")
	if err != nil {
		t.Fatal(err)
	}
	woken := 0
	e.d.notifier = notify.NewNotifier(notify.NotifierConfig{Keys: keys, Channels: []notify.Channel{ch}, Unmatched: true, Wake: func() { woken++ }})
	return func() []string {
		t.Helper()
		out, err := e.led.Outbox(time.Now(), 100)
		if err != nil {
			t.Fatal(err)
		}
		var events []string
		for _, o := range out {
			if o.Channel != ch.Name {
				t.Errorf("entry for %q, want the channel's masked name %q", o.Channel, ch.Name)
			}
			if u, err := keys.Open(o.Sealed); err != nil || u != ch.URL {
				t.Errorf("sealed URL opens to %q, %v; want the channel's URL", u, err)
			}
			events = append(events, o.Event)
		}
		if len(events) > 0 && woken == 0 {
			t.Error("the sender was not woken for new entries")
		}
		return events
	}
}

func TestDeployOutcomesGoToTheOutbox(t *testing.T) {
	t.Run("succeeded", func(t *testing.T) {
		e := gateEnv(t, nil)
		e.eng.healthOf[dg("v2")] = healthy
		events := withNotifier(t, e)
		d, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := events(); !slices.Equal(got, []string{notify.EventSucceeded}) {
			t.Fatalf("outbox = %v, want one deploy.succeeded", got)
		}
		out, _ := e.led.Outbox(time.Now(), 10)
		if out[0].Deploy == nil || out[0].Deploy.ID != d.ID || out[0].Deploy.Status != forge.StatusSucceeded {
			t.Fatalf("entry's deploy = %+v, want the final record of deploy %d", out[0].Deploy, d.ID)
		}
	})
	t.Run("failed, rolled back automatically", func(t *testing.T) {
		e := gateEnv(t, nil)
		e.eng.healthOf[dg("v2")] = unhealthy
		events := withNotifier(t, e)
		d, _ := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}})
		if got := events(); !slices.Equal(got, []string{notify.EventFailed, notify.EventAutoRollback}) {
			t.Fatalf("outbox = %v, want the failure, then the rollback", got)
		}
		out, _ := e.led.Outbox(time.Now(), 10)
		if out[0].Deploy.RevertedBy != d.RevertedBy || out[1].Deploy.Reverts != d.ID {
			t.Fatalf("entries %+v, %+v do not link the failure and its rollback", out[0].Deploy, out[1].Deploy)
		}
	})
	t.Run("rollback failed too", func(t *testing.T) {
		e := gateEnv(t, nil)
		e.eng.healthOf[dg("v1")] = unhealthy
		e.eng.healthOf[dg("v2")] = unhealthy
		events := withNotifier(t, e)
		_, _ = e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}})
		if got := events(); !slices.Equal(got, []string{notify.EventFailed, notify.EventRollbackFailed}) {
			t.Fatalf("outbox = %v, want the failure, then the failed rollback", got)
		}
	})
	t.Run("manual rollback", func(t *testing.T) {
		e := gateEnv(t, nil)
		e.eng.healthOf[dg("v2")] = healthy
		if _, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}}); err != nil {
			t.Fatal(err)
		}
		e.eng.push(shopRepo, "live", dg("v3"))
		e.eng.healthOf[dg("v3")] = healthy
		if _, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}}); err != nil {
			t.Fatal(err)
		}
		events := withNotifier(t, e)
		if _, err := e.d.Rollback(t.Context(), RollbackRequest{Project: "shop", User: "bob"}); err != nil {
			t.Fatal(err)
		}
		if got := events(); !slices.Equal(got, []string{notify.EventManualRollback}) {
			t.Fatalf("outbox = %v, want one rollback.manual", got)
		}
	})
	t.Run("failure filter drops a success", func(t *testing.T) {
		e := gateEnv(t, map[string]string{notify.LabelNotify: notify.FilterFailure})
		e.eng.healthOf[dg("v2")] = healthy
		events := withNotifier(t, e)
		if _, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}}); err != nil {
			t.Fatal(err)
		}
		if got := events(); len(got) != 0 {
			t.Fatalf("outbox = %v, want nothing: web wants failures only", got)
		}
	})
	t.Run("compose file does not load", func(t *testing.T) {
		e := gateEnv(t, nil)
		e.eng.failLoad("shop", errors.New("services.web: invalid"))
		events := withNotifier(t, e)
		d, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}})
		if err == nil || d.Status != forge.StatusFailed {
			t.Fatalf("deploy = %+v, %v; want recorded failed", d, err)
		}
		if got := events(); !slices.Equal(got, []string{notify.EventFailed}) {
			t.Fatalf("outbox = %v, want the recorded failure", got)
		}
	})
}

func TestUnmatchedPushIsToldWhenAsked(t *testing.T) {
	e := newEnv(t)
	e.eng.addProject("other", enabled("web", "ghcr.io/acme/other:live"))
	e.eng.run("other", "web", dg("other"))
	events := withNotifier(t, e)
	q, why, err := e.d.Submit(t.Context(), []forge.Event{pushEvent(dg("v2"), "d-9")})
	if err != nil || len(q) != 0 || why == "" {
		t.Fatalf("Submit = %v, %q, %v; want nothing queued, and why", q, why, err)
	}
	if got := events(); !slices.Equal(got, []string{notify.EventUnmatched}) {
		t.Fatalf("outbox = %v, want one push.unmatched", got)
	}
	out, _ := e.led.Outbox(time.Now(), 10)
	if out[0].Deploy != nil || out[0].Text == "" {
		t.Fatalf("entry = %+v, want a text of no deploy", out[0])
	}
}
