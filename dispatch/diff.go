package dispatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
	"github.com/docker-forge/docker-forge/snapshot"
)

// Running names the containers as they run, as a side of a Diff.
const Running = "running"

// runningFields are what a running container is compared on.
var runningFields = []string{"image", "command", "entrypoint", "environment", "labels", "ports", "volumes", "user", "working_dir", "restart"}

// Diff is what changed in a project's configuration from one point to
// another: after a deploy, or what its containers run.
type Diff struct {
	Project  string        `json:"project"`
	From     string        `json:"from"`
	To       string        `json:"to"`
	Services []ServiceDiff `json:"services"`
}

// ServiceDiff is one service's changes; Added and Removed mark a service
// only one side has.
type ServiceDiff struct {
	Service string            `json:"service"`
	Added   bool              `json:"added,omitempty"`
	Removed bool              `json:"removed,omitempty"`
	Changes []snapshot.Change `json:"changes,omitempty"`
}

// Diff compares the configuration of project after deploy from with after
// deploy to (either "" is the project's current deploy, its newest success), field
// by field, secrets as "changed" only. Either side may be Running: what the
// containers were created with (then only the fields a container shows are
// compared).
func (d *Dispatcher) Diff(ctx context.Context, project, from, to string) (Diff, error) {
	if _, err := d.locate(ctx, forge.ProjectRef{Name: project}); err != nil {
		return Diff{}, fmt.Errorf("diff %s: %w", project, err)
	}
	hist, err := d.led.History(project, 0)
	if err != nil {
		return Diff{}, fmt.Errorf("diff %s: %w", project, err)
	}
	current := strconv.FormatUint(lastPassedID(hist), 10)
	if from == "" || to == "" {
		if current == "0" {
			return Diff{}, fmt.Errorf("diff %s: %w", project, notRecorded("no successful deploy is recorded to compare with"))
		}
		from, to = cmp.Or(from, current), cmp.Or(to, current)
	}
	out := Diff{Project: project, From: from, To: to}
	a, err := d.side(ctx, project, hist, from, nil)
	if err != nil {
		return Diff{}, err
	}
	b, err := d.side(ctx, project, hist, to, a)
	if err != nil {
		return Diff{}, err
	}
	if from == Running {
		// The running side was masked by what the other side masks.
		if a, err = d.side(ctx, project, hist, from, b); err != nil {
			return Diff{}, err
		}
	}
	names := map[string]bool{}
	for n := range a {
		names[n] = true
	}
	for n := range b {
		names[n] = true
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		fa, inA := a[n]
		fb, inB := b[n]
		sd := ServiceDiff{Service: n, Added: !inA, Removed: !inB}
		if inA && inB {
			if from == Running || to == Running {
				fa, fb = fa.Only(runningFields...), fb.Only(runningFields...)
			}
			sd.Changes = snapshot.Diff(fa, fb)
			if len(sd.Changes) == 0 {
				continue
			}
		}
		out.Services = append(out.Services, sd)
	}
	return out, nil
}

// side reads one side of a diff: the configuration after a deploy, or the
// running containers' (masking what other masks).
func (d *Dispatcher) side(ctx context.Context, project string, hist []forge.Deploy, at string, other map[string]snapshot.Fields) (map[string]snapshot.Fields, error) {
	out := map[string]snapshot.Fields{}
	if at == Running {
		raws, err := d.eng.RunningSnapshots(ctx, project, func(service, field string) bool {
			return snapshot.IsMasked(other[service].Scalars[field])
		})
		if err != nil {
			return nil, fmt.Errorf("diff %s: read the running containers: %w", project, err)
		}
		for svc, raw := range raws {
			f, err := snapshot.Flatten(raw)
			if err != nil {
				return nil, err
			}
			out[svc] = f
		}
		return out, nil
	}
	id, err := strconv.ParseUint(at, 10, 64)
	if err != nil || id == 0 {
		return nil, fmt.Errorf("diff %s: %q is not a deploy ID (or %q)", project, at, Running)
	}
	dep, err := d.led.Get(id)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, fmt.Errorf("diff %s: %w", project, notRecorded(fmt.Sprintf("no deploy %d is recorded (see docker forge history %s)", id, project)))
	}
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", project, err)
	}
	if dep.Project != project {
		return nil, fmt.Errorf("diff %s: deploy %d belongs to project %s", project, id, dep.Project)
	}
	for svc, snap := range stateAt(hist, id) {
		f, err := d.fields(snap, nil)
		if err != nil {
			return nil, fmt.Errorf("diff %s: deploy %d, service %s: %w", project, id, svc, err)
		}
		out[svc] = f
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("diff %s: deploy %d recorded no configuration (it ran before docker-forge kept them)", project, id)
	}
	return out, nil
}

// stateAt is the snapshot each service ran after deploy id: the one id
// recorded, else the newest successful deploy's before it.
func stateAt(hist []forge.Deploy, id uint64) map[string]string {
	out := map[string]string{}
	for _, h := range hist { // newest first
		if h.ID > id || h.ID != id && h.Status != forge.StatusSucceeded {
			continue
		}
		for _, s := range h.Services {
			if _, ok := out[s.Service]; !ok && s.Snapshot != "" {
				out[s.Service] = s.Snapshot
			}
		}
	}
	return out
}

func lastPassedID(hist []forge.Deploy) uint64 {
	for _, h := range hist {
		if h.Status == forge.StatusSucceeded {
			return h.ID
		}
	}
	return 0
}

// ErrStillRunning refuses to forget a project whose containers run.
var ErrStillRunning = errors.New("its containers still run: take them down first (docker compose down), or pass --force")

// Forget deletes everything the ledger keeps of a project (deploys,
// snapshots, stats, replay entries), in its turn; a project whose
// containers run is refused unless force.
func (d *Dispatcher) Forget(ctx context.Context, project string, force bool) (ledger.Forgotten, error) {
	if _, err := d.locate(ctx, forge.ProjectRef{Name: project}); err != nil {
		return ledger.Forgotten{}, fmt.Errorf("forget %s: %w", project, err)
	}
	t, err := d.lineUp(project, true)
	if err != nil {
		return ledger.Forgotten{}, fmt.Errorf("forget %s: %w", project, err)
	}
	defer d.endTurn(t)
	if !force {
		running, err := d.eng.Running(ctx, project)
		if err != nil {
			return ledger.Forgotten{}, fmt.Errorf("forget %s: read its containers (pass --force to forget it all the same): %w", project, err)
		}
		for _, r := range running {
			if r.State == "running" {
				return ledger.Forgotten{}, fmt.Errorf("forget %s: %w", project, ErrStillRunning)
			}
		}
	}
	out, err := d.led.Forget(project)
	if err != nil {
		return out, err
	}
	d.log.Info("project forgotten", "project", project, "deploys", out.Deploys, "snapshots", out.Snapshots, "stats_series", out.Series)
	return out, nil
}
