package cliplugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/snapshot"
)

// t0 is in UTC; TestMain sets time.Local to UTC too, as writeHistory prints
// local times.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

// fixedDeploys covers every shape a history line takes: a push with a
// delivery, a manual deploy by a user, a failed one with its reason, a
// rollback (with and without an error), a queued one that never started,
// one with no trigger, and one with several services.
func fixedDeploys() []forge.Deploy {
	return []forge.Deploy{
		{
			ID: 44, Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusRunning,
			Trigger: forge.Trigger{Provider: "distribution", Delivery: "0b7e"},
			Services: []forge.ServiceDeploy{{Service: "web", Image: "ghcr.io/acme/web:1", Previous: digest('a'),
				Pinned: "ghcr.io/acme/web@" + digest('e'), Requested: digest('e'), Enabled: true}},
			Queued: t0.Add(70 * time.Minute), Started: t0.Add(70 * time.Minute),
		},
		{
			ID: 43, Project: "shop", Reason: forge.ReasonManual, Status: forge.StatusSucceeded,
			Trigger: forge.Trigger{User: "carol"},
			Services: []forge.ServiceDeploy{
				{Service: "app", Image: "shop-app", Built: true, Local: true, Previous: digest('5'), Pinned: digest('6'), Digest: digest('6'),
					Changed: true, Why: []string{forge.WhyImage}},
				{Service: "db", Image: "postgres:16", Previous: digest('7'), Pinned: "postgres@" + digest('7'), Digest: digest('7')},
				{Service: "tool", Image: "acme/tool:dev", Local: true, Pinned: digest('8'), Digest: digest('8'), Changed: true, Why: []string{forge.WhyCreated}},
				{Service: "web", Image: "ghcr.io/acme/web:1", Previous: digest('a'), Pinned: "ghcr.io/acme/web@" + digest('a'), Digest: digest('a'),
					Changed: true, Enabled: true, Why: []string{forge.WhyConfig}},
			},
			Queued: t0.Add(60 * time.Minute), Started: t0.Add(60 * time.Minute), Finished: t0.Add(60*time.Minute + 2*time.Second),
			Phases: forge.Phases{Queue: 1500 * time.Microsecond, Resolve: 14 * time.Millisecond, Recreate: 1234 * time.Millisecond,
				Verify: 6 * time.Millisecond, Health: 745 * time.Millisecond},
			Warnings: []string{"service web: environment.DB_PASSWORD is a secret whose value changed since; the current value is used"},
		},
		{
			ID: 42, Project: "shop", Reason: forge.ReasonRollback, Status: forge.StatusSucceeded, RollbackOf: 40,
			Trigger:  forge.Trigger{User: "alice"},
			Services: []forge.ServiceDeploy{{Service: "web", Previous: digest('c'), Digest: digest('a'), Changed: true}},
			Queued:   t0.Add(50 * time.Minute), Started: t0.Add(50*time.Minute + time.Second), Finished: t0.Add(50*time.Minute + 3*time.Second),
		},
		{
			ID: 41, Project: "shop", Reason: forge.ReasonRollback, Status: forge.StatusFailed, RollbackOf: 40,
			Error:    "service web did not become healthy",
			Trigger:  forge.Trigger{User: "alice"},
			Services: []forge.ServiceDeploy{{Service: "web", Previous: digest('c'), Digest: digest('a'), Changed: true}},
			Queued:   t0.Add(40 * time.Minute), Started: t0.Add(40 * time.Minute), Finished: t0.Add(41 * time.Minute),
		},
		{
			ID: 40, Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusSucceeded,
			Trigger: forge.Trigger{Provider: "distribution", Delivery: "5d8c0a6e-2f1b-4c1e-9d7a-3b2f4e6a8c0d"},
			Services: []forge.ServiceDeploy{
				{Service: "web", Previous: digest('b'), Digest: digest('c'), Changed: true, Enabled: true, Why: []string{forge.WhyDigest, forge.WhyConfig}, Summary: "digest, 1 env"},
				{Service: "worker", Previous: digest('d'), Digest: digest('d'), Enabled: true},
			},
			Queued: t0.Add(30 * time.Minute), Started: t0.Add(30 * time.Minute), Finished: t0.Add(31 * time.Minute),
		},
		{
			ID: 39, Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusSucceeded,
			Trigger:  forge.Trigger{Provider: "generic", Delivery: "short-id"},
			Services: []forge.ServiceDeploy{{Service: "web", Previous: "", Digest: digest('b'), Changed: true}},
			Queued:   t0.Add(20 * time.Minute), Started: t0.Add(20 * time.Minute), Finished: t0.Add(21 * time.Minute),
		},
		{
			ID: 38, Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusInterrupted,
			Error:   "docker forge stopped during the deploy",
			Trigger: forge.Trigger{Provider: "dockerhub"},
			Queued:  t0.Add(10 * time.Minute), Started: t0.Add(10 * time.Minute),
		},
		{
			ID: 37, Project: "shop", Reason: forge.ReasonManual, Status: forge.StatusQueued,
			Trigger: forge.Trigger{User: "bob"},
			Queued:  t0.Add(5 * time.Minute),
		},
		{
			ID: 36, Project: "shop", Reason: forge.ReasonManual, Status: forge.StatusFailed,
			Error:  "compose project could not be loaded",
			Queued: t0, Started: t0, Finished: t0,
		},
		{
			ID: 35, Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusSucceeded,
			Trigger: forge.Trigger{Provider: "gitea", Delivery: "9f3c"},
			Commit:  strings.Repeat("c2", 20), PreviousCommit: strings.Repeat("c1", 20),
			Services: []forge.ServiceDeploy{
				{Service: "web", Image: "shop-web:c2c2c2c2c2c2", Built: true, Previous: digest('1'), Digest: digest('2'), Changed: true},
				{Service: "api", Image: "shop-api:c1c1c1c1c1c1", Built: true, Previous: digest('3'), Digest: digest('3')},
			},
			Queued: t0.Add(-10 * time.Minute), Started: t0.Add(-10 * time.Minute), Finished: t0.Add(-9 * time.Minute),
		},
		{
			ID: 34, Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusFailed,
			Trigger: forge.Trigger{Provider: "github", Delivery: "77aa"},
			Commit:  strings.Repeat("ab", 20), Error: "commit abababababab is not on branch main",
			Queued: t0.Add(-20 * time.Minute), Started: t0.Add(-20 * time.Minute), Finished: t0.Add(-20 * time.Minute),
		},
	}
}

func TestWriteHistoryGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := writeHistory(&buf, fixedDeploys(), false); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "history", buf.Bytes())
	buf.Reset()
	if err := writeHistory(&buf, fixedDeploys(), true); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "history-verbose", buf.Bytes())
}

func TestWriteDiff(t *testing.T) {
	d := dispatch.Diff{Project: "shop", From: "9", To: dispatch.Running, Services: []dispatch.ServiceDiff{
		{Service: "web", Changes: []snapshot.Change{
			{Field: "environment.DB_PASSWORD", Secret: true},
			{Field: "environment.LOG_LEVEL", From: "info", To: "debug"},
			{Field: "image", From: "ghcr.io/acme/web@" + digest('a'), To: "ghcr.io/acme/web@" + digest('b')},
			{Field: "ports", Added: []string{"8443:443/tcp"}},
		}},
		{Service: "worker", Added: true},
	}}
	var buf bytes.Buffer
	if err := writeDiff(&buf, d); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "diff", buf.Bytes())
}

func TestWriteHistoryLocalTime(t *testing.T) {
	old := time.Local
	time.Local = time.FixedZone("CET", 3600)
	t.Cleanup(func() { time.Local = old })
	var buf bytes.Buffer
	if err := writeHistory(&buf, []forge.Deploy{{ID: 1, Project: "shop", Queued: t0, Started: t0}}, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "2026-03-14 10:26:53") {
		t.Errorf("history does not show the start in the local zone:\n%s", buf.String())
	}
}

func TestWriteProjectsGolden(t *testing.T) {
	last := fixedDeploy(40)
	failed := fixedDeploy(36)
	running := fixedDeploy(44)
	ps := []api.ProjectStatus{
		{
			Name: "busy", WorkingDir: "/srv/busy", LastDeploy: &running,
			Services: []api.ServiceStatus{{Name: "web", Image: "ghcr.io/acme/web:1", Digest: digest('a'), State: "running", Enabled: true}},
		},
		{
			Name: "broken", WorkingDir: "/srv/broken", Services: []api.ServiceStatus{},
			Error: "compose project could not be loaded", LastDeploy: &failed,
		},
		{Name: "fresh", Services: []api.ServiceStatus{}, Error: "compose project could not be loaded"},
		{Name: "legacy", WorkingDir: "/srv/legacy", Services: []api.ServiceStatus{}, LastDeploy: &last},
		{
			Name: "shop", WorkingDir: "/srv/shop", LastDeploy: &last,
			Services: []api.ServiceStatus{
				{Name: "web", Image: "ghcr.io/acme/web:1", Digest: digest('c'), State: "running", Enabled: true},
				{Name: "worker", Image: "ghcr.io/acme/worker:1", Enabled: true},
				{Name: "tool", Image: "acme/tool:dev", ImageID: digest('9'), State: "running"},
				{Name: "cron", Image: "127.0.0.1:5000/cron:latest", Digest: digest('e'), State: "exited"},
			},
		},
		{
			Name: "zeta", Error: "could not read the project's containers",
			Services: []api.ServiceStatus{{Name: "api", Image: "ghcr.io/acme/api:2"}},
		},
	}
	var buf bytes.Buffer
	if err := writeProjects(&buf, ps); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "projects", buf.Bytes())
}

func TestWriteProjectsEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := writeProjects(&buf, []api.ProjectStatus{}); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "PROJECT  ENGINE  SERVICE  PUSHES  IMAGE  DIGEST  STATE  LAST DEPLOY\n"; got != want {
		t.Errorf("empty listing %q, want the header only %q", got, want)
	}
}

// fixedDeploy is the fixed deploy with the given ID.
func fixedDeploy(id uint64) forge.Deploy {
	for _, d := range fixedDeploys() {
		if d.ID == id {
			return d
		}
	}
	panic(fmt.Sprintf("no fixed deploy %d", id))
}

func TestReportDeploy(t *testing.T) {
	ok := fixedDeploy(40)
	failed := fixedDeploy(41)
	tests := []struct {
		name    string
		deploy  forge.Deploy
		err     error
		json    bool
		wantErr error // nil: no error
	}{
		{name: "succeeded", deploy: ok},
		{name: "manual", deploy: fixedDeploy(43)},
		{name: "succeeded-json", deploy: ok, json: true},
		{name: "failed", deploy: failed, err: &dispatch.Failure{Deploy: failed}, wantErr: &dispatch.Failure{Deploy: failed}},
		{name: "failed-json", deploy: failed, err: &dispatch.Failure{Deploy: failed}, json: true, wantErr: &dispatch.Failure{Deploy: failed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := reportDeploy(&buf, tt.deploy, tt.err, tt.json)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("reportDeploy: %v", err)
			}
			if tt.wantErr != nil {
				if _, ok := errors.AsType[*dispatch.Failure](err); !ok || err.Error() != tt.wantErr.Error() {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
			}
			if tt.json {
				var back forge.Deploy
				if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
					t.Fatalf("output is not a deploy in JSON: %v\n%s", err, buf.Bytes())
				}
				if !reflect.DeepEqual(back, tt.deploy) {
					t.Errorf("JSON round trip\n got %+v\nwant %+v", back, tt.deploy)
				}
			}
			checkGolden(t, "deploy-"+tt.name, buf.Bytes())
		})
	}
}

// TestReportDeployError checks that an error before anything was recorded is
// returned as is, with nothing printed.
func TestReportDeployError(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprint("json=", asJSON), func(t *testing.T) {
			cause := fmt.Errorf("find project shop: %w", dispatch.ErrUnknownProject)
			var buf bytes.Buffer
			err := reportDeploy(&buf, forge.Deploy{}, cause, asJSON)
			if err != cause {
				t.Errorf("error %v, want %v", err, cause)
			}
			if buf.Len() != 0 {
				t.Errorf("printed %q for a deploy that was not recorded", buf.String())
			}
		})
	}
}

func TestShort(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "empty", in: "", want: "-"},
		{name: "sha256", in: digest('a'), want: "sha256:aaaaaaaaaaaa"},
		{name: "sha512", in: "sha512:" + strings.Repeat("f", 128), want: "sha512:ffffffffffff"},
		{name: "exactly twelve", in: "sha256:0123456789ab", want: "sha256:0123456789ab"},
		{name: "thirteen", in: "sha256:0123456789abc", want: "sha256:0123456789ab"},
		{name: "short digest", in: "sha256:abc", want: "sha256:abc"},
		{name: "no algorithm", in: strings.Repeat("a", 64), want: strings.Repeat("a", 64)},
		{name: "image id", in: "deadbeef", want: "deadbeef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := short(tt.in); got != tt.want {
				t.Errorf("short(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTrigger(t *testing.T) {
	tests := []struct {
		name string
		in   forge.Trigger
		want string
	}{
		{name: "nothing", in: forge.Trigger{}, want: "-"},
		{name: "provider", in: forge.Trigger{Provider: "dockerhub"}, want: "dockerhub"},
		{name: "provider and delivery", in: forge.Trigger{Provider: "github", Delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958"}, want: "github 72d3162e-cc7"},
		{name: "short delivery", in: forge.Trigger{Provider: "gitlab", Delivery: "abc"}, want: "gitlab abc"},
		{name: "twelve character delivery", in: forge.Trigger{Provider: "generic", Delivery: "0123456789ab"}, want: "generic 0123456789ab"},
		{name: "user", in: forge.Trigger{User: "alice"}, want: "user alice"},
		{name: "provider wins over user", in: forge.Trigger{Provider: "ghcr", User: "alice"}, want: "ghcr"},
		{name: "delivery without provider", in: forge.Trigger{Delivery: "abc"}, want: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trigger(tt.in); got != tt.want {
				t.Errorf("trigger(%+v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
