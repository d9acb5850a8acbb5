package dispatch

import (
	"context"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

// TestRunStopsAfterGrace stops Run while a deploy is blocked in Up: within
// the grace period the deploy may finish; after it, the deploy is cancelled.
// Either way Run returns only once the deploy's outcome is recorded.
func TestRunStopsAfterGrace(t *testing.T) {
	tests := []struct {
		name    string
		grace   time.Duration
		release bool // release Up during the grace period
		// wantOK: succeeded; otherwise failed or interrupted.
		wantOK bool
	}{
		{name: "deploy finishes within the grace period", grace: time.Minute, release: true, wantOK: true},
		{name: "deploy cancelled after the grace period", grace: 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvConfig(t, Config{StopGrace: tt.grace})
			e.eng.addProject("shop", enabled("web", shopRepo+":live"))
			e.eng.run("shop", "web", dg("v1"))
			e.eng.push(shopRepo, "live", dg("v2"))
			gate := e.eng.block("shop")

			queued, _, err := e.d.Submit(t.Context(), []forge.Event{pushEvent(dg("v2"), "")})
			if err != nil || len(queued) != 1 {
				t.Fatalf("Submit = %+v, %v", queued, err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- e.d.Run(ctx) }()
			<-e.eng.entered
			cancel()

			if tt.release {
				select {
				case err := <-done:
					t.Fatalf("Run returned (%v) while a deploy was still in its grace period", err)
				case <-time.After(20 * time.Millisecond):
				}
				close(gate)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return")
			}
			rec, err := e.led.Get(queued[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.Status.Final() || (rec.Status == forge.StatusSucceeded) != tt.wantOK {
				t.Errorf("deploy %s %q, want succeeded %v", rec.Status, rec.Error, tt.wantOK)
			}
		})
	}
}
