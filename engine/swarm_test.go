package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"

	"github.com/docker-forge/docker-forge"
)

const (
	dA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	dB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestStackNames(t *testing.T) {
	tests := []struct{ ns, name, want string }{
		{"shop", "shop_web", "web"},
		{"shop", "shop_web_api", "web_api"},
		{"shop", "other_web", "other_web"},
		{"a_b", "a_b_c", "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shortName(tt.ns, tt.name); got != tt.want {
				t.Errorf("shortName(%q, %q) = %q, want %q", tt.ns, tt.name, got, tt.want)
			}
		})
	}
}

func TestImageDigests(t *testing.T) {
	tests := []struct {
		name, spec, file, followed, digest string
	}{
		{name: "tag and digest", spec: "127.0.0.1:5000/app:live@" + dA, followed: "127.0.0.1:5000/app:live", digest: dA},
		{name: "tag only", spec: "nginx:1.27", followed: "nginx:1.27"},
		{name: "digest only, file's tag", spec: "ghcr.io/acme/web@" + dA, file: "ghcr.io/acme/web:2", followed: "ghcr.io/acme/web:2", digest: dA},
		{name: "digest only, file of another repo", spec: "ghcr.io/acme/web@" + dA, file: "ghcr.io/acme/api:2", followed: "ghcr.io/acme/web", digest: dA},
		{name: "no file", spec: "ghcr.io/acme/web@" + dA, followed: "ghcr.io/acme/web", digest: dA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := followedImage(tt.spec, tt.file); got != tt.followed {
				t.Errorf("followedImage(%q, %q) = %q, want %q", tt.spec, tt.file, got, tt.followed)
			}
			if got := digestIn(tt.spec); got != tt.digest {
				t.Errorf("digestIn(%q) = %q, want %q", tt.spec, got, tt.digest)
			}
		})
	}
}

func TestPinnedImage(t *testing.T) {
	tests := []struct {
		name, current, pin, want string
		wantErr                  bool
	}{
		{name: "keeps the tag", current: "127.0.0.1:5000/app:live@" + dA, pin: "127.0.0.1:5000/app@" + dB, want: "127.0.0.1:5000/app:live@" + dB},
		{name: "tag without digest", current: "nginx:1.27", pin: "docker.io/library/nginx@" + dB, want: "nginx:1.27@" + dB},
		{name: "another repository", current: "ghcr.io/acme/api:2", pin: "ghcr.io/acme/web@" + dB, want: "ghcr.io/acme/web@" + dB},
		{name: "pin with its own tag", current: "ghcr.io/acme/api:2", pin: "ghcr.io/acme/web:3@" + dB, want: "ghcr.io/acme/web:3@" + dB},
		{name: "no digest", current: "nginx:1.27", pin: "nginx:1.28", wantErr: true},
		{name: "not a reference", current: "nginx", pin: "UPPER@" + dB, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pinnedImage(tt.current, tt.pin)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("pinnedImage(%q, %q) = %q, %v; want %q (error %v)", tt.current, tt.pin, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestAtPin(t *testing.T) {
	tests := []struct {
		name, current, pin string
		want               bool
	}{
		{"same digest with a tag", "127.0.0.1:5000/app:live@" + dA, "127.0.0.1:5000/app@" + dA, true},
		{"other digest", "127.0.0.1:5000/app:live@" + dA, "127.0.0.1:5000/app@" + dB, false},
		{"same digest, other repository", "127.0.0.1:5000/api:live@" + dA, "127.0.0.1:5000/app@" + dA, false},
		{"no digest", "127.0.0.1:5000/app:live", "127.0.0.1:5000/app@" + dA, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := atPin(tt.current, tt.pin); got != tt.want {
				t.Errorf("atPin(%q, %q) = %v, want %v", tt.current, tt.pin, got, tt.want)
			}
		})
	}
}

func TestStackServiceLabels(t *testing.T) {
	s := swarm.Service{Spec: swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "shop_web", Labels: map[string]string{
			forge.StackNamespaceLabel: "shop", forge.LabelEnable: "true", forge.LabelPolicy: "semver:minor",
			labelStackImage: "127.0.0.1:5000/app:live",
		}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
			Image:  "127.0.0.1:5000/app:live@" + dA,
			Labels: map[string]string{forge.LabelRollback: "auto", forge.LabelPolicy: "digest"},
		}},
	}}
	got := serviceOf("shop", s)
	if got.Name != "web" || got.Image != "127.0.0.1:5000/app:live" {
		t.Errorf("serviceOf = %q %q, want web 127.0.0.1:5000/app:live", got.Name, got.Image)
	}
	// Deploy labels and container labels both count; the service's win.
	for k, v := range map[string]string{forge.LabelEnable: "true", forge.LabelRollback: "auto", forge.LabelPolicy: "semver:minor"} {
		if got.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, got.Labels[k], v, got.Labels)
		}
	}
	if !got.Enabled() {
		t.Error("a service with forge.enable in deploy.labels is not enabled")
	}
}

func TestOutcomeOf(t *testing.T) {
	before := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	after := before.Add(time.Minute)
	status := func(state swarm.UpdateState, started time.Time) *swarm.UpdateStatus {
		return &swarm.UpdateStatus{State: state, StartedAt: &started}
	}
	tests := []struct {
		name string
		us   *swarm.UpdateStatus
		prev *time.Time
		want updateOutcome
	}{
		{"no status yet", nil, &before, updateUnseen},
		{"the update before's status", status(swarm.UpdateStateCompleted, before), &before, updateUnseen},
		{"the rollback before's status", status(swarm.UpdateStateRollbackCompleted, before), &before, updateUnseen},
		{"updating", status(swarm.UpdateStateUpdating, after), &before, updateRunning},
		{"completed", status(swarm.UpdateStateCompleted, after), &before, updateDone},
		{"first update completed", status(swarm.UpdateStateCompleted, after), nil, updateDone},
		{"rolling back", status(swarm.UpdateStateRollbackStarted, after), &before, updateRunning},
		{"rolled back", status(swarm.UpdateStateRollbackCompleted, after), &before, updateRolledBack},
		{"paused", status(swarm.UpdateStatePaused, after), &before, updatePaused},
		{"rollback paused", status(swarm.UpdateStateRollbackPaused, after), nil, updatePaused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcomeOf(tt.us, tt.prev); got != tt.want {
				t.Errorf("outcomeOf = %v, want %v", got, tt.want)
			}
		})
	}
}

// swarmFixture is a service at image cur with tasks built by task().
type swarmFixture struct {
	svc  swarm.Service
	base time.Time
}

func newSwarmFixture(image string, replicas uint64) *swarmFixture {
	f := &swarmFixture{base: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	f.svc = swarm.Service{ID: "svc1", Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "shop_web"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}}
	return f
}

// task is a task of image, created at second s, in state (desired running
// unless the state is final), its container c.
func (f *swarmFixture) task(image string, s int, state swarm.TaskState, c string) swarm.Task {
	at := f.base.Add(time.Duration(s) * time.Second)
	desired := swarm.TaskStateRunning
	if state == swarm.TaskStateFailed || state == swarm.TaskStateShutdown || state == swarm.TaskStateRejected {
		desired = swarm.TaskStateShutdown
	}
	return swarm.Task{
		ID: c, ServiceID: f.svc.ID, NodeID: "node1", Meta: swarm.Meta{CreatedAt: at},
		Spec:         swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
		DesiredState: desired,
		Status:       swarm.TaskStatus{Timestamp: at.Add(time.Second), State: state, ContainerStatus: &swarm.ContainerStatus{ContainerID: c}},
	}
}

func TestStackRunningAndHealth(t *testing.T) {
	oldImg, newImg := "127.0.0.1:5000/app:live@"+dA, "127.0.0.1:5000/app:live@"+dB
	tests := []struct {
		name      string
		image     string
		replicas  uint64
		updateAt  int // seconds; 0: no update status
		tasks     func(f *swarmFixture) []swarm.Task
		running   forge.Running
		health    forge.Health
		converged bool
	}{
		{
			name: "updated, start-first: the new task runs, the old is shut down", image: newImg, replicas: 1, updateAt: 10,
			tasks: func(f *swarmFixture) []swarm.Task {
				return []swarm.Task{f.task(oldImg, 0, swarm.TaskStateShutdown, "c-old"), f.task(newImg, 11, swarm.TaskStateRunning, "c-new")}
			},
			running:   forge.Running{ContainerID: "c-new", Image: newImg, Digest: dB, State: "running"},
			health:    forge.Health{Running: true, State: "running", StartedAt: time.Date(2026, 1, 1, 10, 0, 12, 0, time.UTC)},
			converged: true,
		},
		{
			name: "mid start-first: both run", image: newImg, replicas: 1, updateAt: 10,
			tasks: func(f *swarmFixture) []swarm.Task {
				return []swarm.Task{f.task(oldImg, 0, swarm.TaskStateRunning, "c-old"), f.task(newImg, 11, swarm.TaskStateStarting, "c-new")}
			},
			running: forge.Running{ContainerID: "c-new", Image: newImg, Digest: dB, State: "starting"},
			health:  forge.Health{State: "starting"},
		},
		{
			name: "the new image exits at once", image: newImg, replicas: 1, updateAt: 10,
			tasks: func(f *swarmFixture) []swarm.Task {
				return []swarm.Task{
					f.task(oldImg, 0, swarm.TaskStateRunning, "c-old"),
					f.task(newImg, 11, swarm.TaskStateFailed, "c-new1"),
					f.task(newImg, 14, swarm.TaskStateFailed, "c-new2"),
					f.task(newImg, 3, swarm.TaskStateFailed, "c-before"), // before the update: not counted
					f.task(newImg, 16, swarm.TaskStateAssigned, ""),      // its next try: no container yet
				}
			},
			running: forge.Running{ContainerID: "c-new2", Image: newImg, Digest: dB, State: "failed"},
			health:  forge.Health{State: "assigned", Restarts: 2},
		},
		{
			name: "rolled back by the swarm: the spec is the old one again", image: oldImg, replicas: 1, updateAt: 10,
			tasks: func(f *swarmFixture) []swarm.Task {
				return []swarm.Task{f.task(oldImg, 0, swarm.TaskStateRunning, "c-old"), f.task(newImg, 11, swarm.TaskStateFailed, "c-new")}
			},
			running:   forge.Running{ContainerID: "c-old", Image: oldImg, Digest: dA, State: "running"},
			health:    forge.Health{Running: true, State: "running", StartedAt: time.Date(2026, 1, 1, 10, 0, 1, 0, time.UTC)},
			converged: true,
		},
		{
			name: "two replicas, one runs", image: newImg, replicas: 2,
			tasks: func(f *swarmFixture) []swarm.Task {
				return []swarm.Task{f.task(newImg, 1, swarm.TaskStateRunning, "c1"), f.task(newImg, 2, swarm.TaskStatePreparing, "c2")}
			},
			running: forge.Running{ContainerID: "c1", Image: newImg, Digest: dB, State: "running"},
			health:  forge.Health{State: "1 of 2 tasks running", StartedAt: time.Date(2026, 1, 1, 10, 0, 2, 0, time.UTC)},
		},
		{
			name: "no task", image: newImg, replicas: 1,
			tasks:  func(*swarmFixture) []swarm.Task { return nil },
			health: forge.Health{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSwarmFixture(tt.image, tt.replicas)
			if tt.updateAt > 0 {
				at := f.base.Add(time.Duration(tt.updateAt) * time.Second)
				f.svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating, StartedAt: &at}
			}
			tasks := tt.tasks(f)
			r, ok := runningOf(f.svc, tasks)
			if ok != (tt.running != forge.Running{}) || r != tt.running {
				t.Errorf("runningOf = %+v (%v), want %+v", r, ok, tt.running)
			}
			if h := healthOf(f.svc, tasks); !reflect.DeepEqual(h, tt.health) {
				t.Errorf("healthOf = %+v, want %+v", h, tt.health)
			}
			if c := converged(f.svc, tasks); c != tt.converged {
				t.Errorf("converged = %v, want %v", c, tt.converged)
			}
		})
	}
}

func TestStackHealthcheckAndGlobal(t *testing.T) {
	img := "127.0.0.1:5000/app:live@" + dA
	f := newSwarmFixture(img, 1)
	f.svc.Spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	f.svc.Spec.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "true"}}
	a, b := f.task(img, 1, swarm.TaskStateRunning, "c1"), f.task(img, 2, swarm.TaskStateStarting, "c2")
	b.NodeID = "node2"
	if h := healthOf(f.svc, []swarm.Task{a, b}); h.Running || h.Status != "starting" {
		t.Errorf("global service with one of two nodes running: %+v, want not running, starting", h)
	}
	b.Status.State = swarm.TaskStateRunning
	if h := healthOf(f.svc, []swarm.Task{a, b}); !h.Running || h.Status != "healthy" {
		t.Errorf("global service running on both nodes: %+v, want running, healthy", h)
	}
	failed := f.task(img, 3, swarm.TaskStateFailed, "c3")
	if !startFailed(f.svc, []swarm.Task{a, failed}) {
		t.Error("startFailed misses a failed task of the current spec")
	}
}

func TestLoadStackFile(t *testing.T) {
	write := func(t *testing.T, body string) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "stack.yaml")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Setenv("FORGE_TEST_TAG", "live")
	good := write(t, `version: "3.8"
services:
  web:
    image: 127.0.0.1:5000/app:${FORGE_TEST_TAG}
    labels:
      forge.rollback: auto
    deploy:
      labels:
        forge.enable: "true"
      update_config:
        order: start-first
        failure_action: rollback
`)
	cfg, _, err := loadStackFile([]string{good}, filepath.Dir(good))
	if err != nil {
		t.Fatalf("good stack file: %v", err)
	}
	s := cfg.Services[0]
	if s.Image != "127.0.0.1:5000/app:live" {
		t.Errorf("image = %q: not interpolated", s.Image)
	}
	if l := mergeLabels(s.Deploy.Labels, s.Labels); l[forge.LabelEnable] != "true" || l[forge.LabelRollback] != "auto" {
		t.Errorf("labels = %v, want both deploy and container labels", l)
	}

	bad := []struct{ name, body, want string }{
		{"not yaml", "services: [", "stack file"},
		{"unknown option", "version: \"3.8\"\nservices:\n  web:\n    image: a\n    deploy:\n      replcas: 2\n", "replcas"},
		{"no image", "version: \"3.8\"\nservices:\n  web:\n    command: sh\n", "no image"},
		{"bad image", "version: \"3.8\"\nservices:\n  web:\n    image: UPPER:case\n", "UPPER"},
		{"no service", "version: \"3.8\"\nservices: {}\n", "no service"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, tt.body)
			_, err := ValidateStackFile([]string{path}, filepath.Dir(path))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidateStackFile = %v, want an error that says %q", err, tt.want)
			}
		})
	}
	if _, err := ValidateStackFile([]string{filepath.Join(t.TempDir(), "missing.yaml")}, ""); err == nil {
		t.Error("a missing stack file loads")
	}
}

// TestUpdateLimitCoversARollingUpdate: forge waits for a rolling update as
// long as its batches may take, and a rollback as long again; never less
// than the default.
func TestUpdateLimitCoversARollingUpdate(t *testing.T) {
	replicas := func(n uint64) swarm.ServiceMode {
		return swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}
	}
	for _, c := range []struct {
		name string
		spec swarm.ServiceSpec
		want time.Duration
	}{
		{"one replica, no update config", swarm.ServiceSpec{Mode: replicas(1)}, updateTimeout},
		{"global", swarm.ServiceSpec{Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}}, updateTimeout},
		{"40 replicas two at a time, 30s delay and monitor", swarm.ServiceSpec{Mode: replicas(40),
			UpdateConfig: &swarm.UpdateConfig{Parallelism: 2, Delay: 30 * time.Second, Monitor: 30 * time.Second}}, 2 * 20 * 3 * time.Minute},
	} {
		if got := updateLimit(c.spec); got != c.want {
			t.Errorf("%s: limit %s, want %s", c.name, got, c.want)
		}
	}
}
