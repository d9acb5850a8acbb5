package dispatch

import (
	"cmp"
	"fmt"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
	"github.com/docker-forge/docker-forge/snapshot"
)

// Reasons of deploys that restore a configuration.
const (
	reasonIncomplete = "the configuration to return to cannot be restored (a secret or a volume the compose file no longer has); roll back with --images-only"
	reasonNoSnapshot = "the configuration to return to is no longer stored; roll back with --images-only"
)

// restores reads the snapshots a rollback puts its services back to.
func (d *Dispatcher) restores(j *job) (map[string][]byte, string, error) {
	var out map[string][]byte
	for name, w := range j.services {
		if w.snapshot == "" {
			continue
		}
		raw, err := d.led.Snapshot(w.snapshot)
		if err != nil {
			return nil, reasonNoSnapshot, fmt.Errorf("service %s: %w", name, err)
		}
		if out == nil {
			out = map[string][]byte{}
		}
		out[name] = raw
	}
	return out, "", nil
}

// keepSnapshots names each service's snapshot in the deploy, and keeps the
// snapshots for the deploy's final record; the engine's warnings go with
// them (they name keys, never values).
func (d *Dispatcher) keepSnapshots(j *job, res forge.UpResult) {
	dep := &j.deploy
	dep.Warnings = append(dep.Warnings, res.Warnings...)
	for _, w := range res.Warnings {
		d.log.Warn("deploy warning", "project", dep.Project, "deploy_id", dep.ID, "warning", w)
	}
	for i := range dep.Services {
		raw, ok := res.Snapshots[dep.Services[i].Service]
		if !ok {
			continue
		}
		id := ledger.SnapshotID(raw)
		dep.Services[i].Snapshot = id
		if j.snapshots == nil {
			j.snapshots = map[string][]byte{}
		}
		j.snapshots[id] = raw
	}
}

// summarize says, per service whose snapshot is new, what changed in its
// configuration since the snapshot the project ran before: "digest, 2 env".
func (d *Dispatcher) summarize(j *job) {
	dep := &j.deploy
	var hist []forge.Deploy
	read := false
	for i := range dep.Services {
		sd := &dep.Services[i]
		if sd.Snapshot == "" {
			continue
		}
		if !read {
			hist, _ = d.led.History(dep.Project, 0)
			read = true
		}
		prev := snapshotBefore(hist, sd.Service, dep.ID)
		if prev == "" || prev == sd.Snapshot {
			continue
		}
		changes, err := d.diffSnapshots(prev, sd.Snapshot, j.snapshots)
		if err != nil {
			d.log.Debug("configuration summary not made", "project", dep.Project, "service", sd.Service, "error", err)
			continue
		}
		sd.Summary = snapshot.Summary(changes)
	}
}

// snapshotBefore is the snapshot service ran after the newest successful
// deploy before id (newest-first hist).
func snapshotBefore(hist []forge.Deploy, service string, id uint64) string {
	for _, h := range hist {
		if h.ID >= id || h.Status != forge.StatusSucceeded {
			continue
		}
		if s, ok := h.Service(service); ok && s.Snapshot != "" {
			return s.Snapshot
		}
	}
	return ""
}

// snapshotIn is the snapshot deploy id recorded for service, "" when it
// recorded none (or is not in hist).
func snapshotIn(hist []forge.Deploy, id uint64, service string) string {
	s, _ := findDeploy(hist, id).Service(service)
	return s.Snapshot
}

// diffSnapshots compares two stored snapshots (or ones not stored yet).
func (d *Dispatcher) diffSnapshots(a, b string, fresh map[string][]byte) ([]snapshot.Change, error) {
	fa, err := d.fields(a, fresh)
	if err != nil {
		return nil, err
	}
	fb, err := d.fields(b, fresh)
	if err != nil {
		return nil, err
	}
	return snapshot.Diff(fa, fb), nil
}

func (d *Dispatcher) fields(id string, fresh map[string][]byte) (snapshot.Fields, error) {
	raw, ok := fresh[id]
	if !ok {
		var err error
		if raw, err = d.led.Snapshot(id); err != nil {
			return snapshot.Fields{}, err
		}
	}
	return snapshot.Flatten(raw)
}

// notifications are the outbox entries of a finished deploy.
func (d *Dispatcher) notifications(j *job) []ledger.OutboxEntry {
	if d.notifier == nil {
		return nil
	}
	p := j.project
	if p.Ref.Name == "" {
		p.Ref.Name = j.deploy.Project
	}
	dep := j.deploy
	dep.Engine = cmp.Or(dep.Engine, d.led.Scope())
	return d.notifier.Notifications(dep, p)
}

// notificationsOf is notifications for a record made in a transaction (the
// deploy's final state is known only there).
func (d *Dispatcher) notificationsOf(p forge.Project) func(forge.Deploy) []ledger.OutboxEntry {
	if d.notifier == nil {
		return nil
	}
	return func(dep forge.Deploy) []ledger.OutboxEntry { return d.notifier.Notifications(dep, p) }
}

// woke tells the notifier its outbox has new entries.
func (d *Dispatcher) woke() {
	if d.notifier != nil {
		d.notifier.Wake()
	}
}
