package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/docker-forge/docker-forge"
)

// TestDeployFailureRecordsGenericReason drives manual deploys into each
// failure and checks that the ledger, the returned error and the log carry
// the generic reason and none of the secrets in the raw error.
func TestDeployFailureRecordsGenericReason(t *testing.T) {
	const (
		repo       = "reg.example/acme/web"
		configured = "tok-9f8e7d6c5b4a" // a secret known to the daemon
	)
	secrets := []string{"hunter2", "s3cr3t", configured}
	leaky := fmt.Errorf("compose up: pull https://user:s3cr3t@reg.example/v2/acme/web: password=hunter2 rejected (sent %s)", configured)
	old, fresh := dg("old"), dg("fresh")

	tests := []struct {
		name   string
		setup  func(e *env)
		reason string
		wantUp bool
	}{
		{
			name:   "compose project does not load",
			setup:  func(e *env) { e.eng.failLoad("shop", fmt.Errorf("interpolate compose.yaml: %w", leaky)) },
			reason: reasonLoad,
		},
		{
			name:   "compose project does not load because the engine is down",
			setup:  func(e *env) { e.eng.failLoad("shop", fmt.Errorf("%w: %w", forge.ErrEngineUnavailable, leaky)) },
			reason: reasonEngine,
		},
		{
			name: "registry down while resolving the tag",
			setup: func(e *env) {
				e.eng.failResolve(repo+":live", errors.New("dial tcp reg.example:443: connect: connection refused"))
			},
			reason: "service web (" + repo + ":live): " + reasonResolveNoLocal,
		},
		{
			name:   "resolve fails because the engine is down",
			setup:  func(e *env) { e.eng.failResolve(repo+":live", fmt.Errorf("%w: %w", forge.ErrEngineUnavailable, leaky)) },
			reason: reasonEngine,
		},
		{
			name:   "compose up fails with credentials in its error",
			setup:  func(e *env) { e.eng.failUp("shop", leaky) },
			reason: reasonUp,
			wantUp: true,
		},
		{
			name: "compose up fails because the engine is down",
			setup: func(e *env) {
				e.eng.failUp("shop", fmt.Errorf("up: %w", fmt.Errorf("%w: %w", forge.ErrEngineUnavailable, leaky)))
			},
			reason: reasonEngine,
			wantUp: true,
		},
		{
			name:   "containers do not run the pinned digest afterwards",
			setup:  func(e *env) { e.eng.lieAbout("shop", "web", old) },
			reason: reasonVerify,
			wantUp: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, secrets...)
			e.eng.addProject("shop", enabled("web", repo+":live"))
			e.eng.push(repo, "live", fresh)
			e.eng.run("shop", "web", old)
			tt.setup(e)

			dep, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}})
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatalf("Deploy error = %v, want a *Failure", err)
			}
			if f.Deploy.Error != tt.reason || dep.Error != tt.reason {
				t.Errorf("failure reason %q (returned deploy %q), want %q", f.Deploy.Error, dep.Error, tt.reason)
			}
			if ups := e.eng.upCalls("shop"); (len(ups) > 0) != tt.wantUp {
				t.Errorf("Up calls = %+v, want called %v", ups, tt.wantUp)
			}

			hist := e.history(t, "shop")
			if len(hist) != 1 {
				t.Fatalf("ledger holds %d deploys, want 1", len(hist))
			}
			rec := hist[0]
			if rec.Status != forge.StatusFailed || rec.Error != tt.reason {
				t.Errorf("recorded %s %q, want failed %q", rec.Status, rec.Error, tt.reason)
			}
			if rec.Finished.IsZero() {
				t.Error("failed deploy has no finish time")
			}
			stored, merr := json.Marshal(rec)
			if merr != nil {
				t.Fatal(merr)
			}
			logged := e.log.String()
			for _, s := range secrets {
				for what, text := range map[string]string{"ledger": string(stored), "returned error": err.Error(), "log": logged} {
					if strings.Contains(text, s) {
						t.Errorf("%s contains secret %q:\n%s", what, s, text)
					}
				}
			}
			if !strings.Contains(logged, tt.reason) {
				t.Errorf("log lacks the reason %q:\n%s", tt.reason, logged)
			}
		})
	}
}

// TestDeployFailureDetailIsLoggedScrubbed checks that the debug log keeps
// the failure detail for operators, with the secrets blanked out.
func TestDeployFailureDetailIsLoggedScrubbed(t *testing.T) {
	e := newEnv(t, "tok-9f8e7d6c5b4a")
	e.eng.addProject("shop", enabled("web", "reg.example/acme/web:live"))
	e.eng.push("reg.example/acme/web", "live", dg("fresh"))
	e.eng.run("shop", "web", dg("old"))
	e.eng.failUp("shop", errors.New("pull https://user:s3cr3t@reg.example/v2/: password=hunter2 denied; sent tok-9f8e7d6c5b4a"))

	if _, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}}); err == nil {
		t.Fatal("Deploy succeeded, want a failure")
	}
	var detail string
	for line := range strings.Lines(e.log.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "deploy failure detail" {
			detail, _ = rec["error"].(string)
			if rec["project"] != "shop" || rec["deploy_id"] == nil {
				t.Errorf("detail line lacks project or deploy_id: %s", line)
			}
		}
	}
	want := "pull https://***@reg.example/v2/: password=*** denied; sent ***"
	if detail != want {
		t.Errorf("logged detail = %q, want %q", detail, want)
	}
}
