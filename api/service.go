// Package api is docker-forge's JSON API under /api/: the daemon serves it on
// a unix socket in its data dir (permissions are the auth, as with the Docker
// socket) and, behind the webhook secret, on its TCP address. The same
// operations run in-process when no daemon answers, so every CLI command works
// whether or not `docker forge serve` is running.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/ledger"
)

// Backend is what the CLI asks of docker-forge, answered either by a running
// daemon (Client) or in-process (Local).
type Backend interface {
	Deploy(ctx context.Context, req dispatch.Request) (forge.Deploy, error)
	Rollback(ctx context.Context, req dispatch.RollbackRequest) (forge.Deploy, error)
	History(ctx context.Context, project string, limit int) ([]forge.Deploy, error)
	Projects(ctx context.Context) ([]ProjectStatus, error)
	// Project is one project's status, whether or not forge follows it.
	Project(ctx context.Context, name string) (ProjectStatus, error)
	// Stats is a project's resource history over window, by service, or
	// with no project the total of every project.
	Stats(ctx context.Context, q StatsQuery) ([]forge.StatSeries, error)
	// Top is the heaviest containers by "cpu" or "memory".
	Top(ctx context.Context, by string, limit int) ([]forge.TopEntry, error)
	// System is a snapshot of the Docker host.
	System(ctx context.Context) (forge.HostStats, error)
	// Lock is the project's images as of a successful deploy (0: the
	// newest), for a compose override that reproduces it.
	Lock(ctx context.Context, project string, deploy uint64) (dispatch.Lock, error)
	// Logs writes the last tail lines of a service's logs to w; with
	// follow, the new ones too until ctx ends.
	Logs(ctx context.Context, project, service string, tail int, follow bool, w io.Writer) error
	// Diff is what changed in a project's configuration from one deploy
	// to another ("" to: the current one; dispatch.Running: the containers).
	Diff(ctx context.Context, project, from, to string) (dispatch.Diff, error)
	// Forget deletes everything the ledger keeps of a project.
	Forget(ctx context.Context, project string, force bool) (ledger.Forgotten, error)
	// Tokens lists the API tokens, CreateToken makes one (its secret is in
	// the answer, and nowhere else), RevokeToken deletes one.
	Tokens(ctx context.Context) ([]forge.Token, error)
	CreateToken(ctx context.Context, name string, role forge.Role) (NewToken, error)
	RevokeToken(ctx context.Context, name string) error
	// Notifications lists the notification channels and their backlog.
	Notifications(ctx context.Context) ([]NotifyChannel, error)
}

// StatsQuery asks for stats history. Window is a Go duration ("" is 2h).
type StatsQuery struct {
	Project string
	Service string
	Window  string
}

// The reasons a ProjectStatus gives in Error.
const (
	ReasonEngineDown = "docker engine unreachable"
	ReasonLoad       = "compose project could not be loaded"
	ReasonContainers = "could not read the project's containers"
)

// ProjectStatus is a project in `docker forge ls`: every service of it,
// with what it runs and whether pushes move it.
type ProjectStatus struct {
	Name string `json:"name"`
	// Engine is the docker context the project runs on; Stack marks a
	// swarm stack.
	Engine     string          `json:"engine,omitempty"`
	Stack      bool            `json:"stack,omitempty"`
	WorkingDir string          `json:"working_dir,omitempty"`
	Services   []ServiceStatus `json:"services"`
	LastDeploy *forge.Deploy   `json:"last_deploy,omitempty"`
	// Attention says why the project needs a person (a rollback failed).
	Attention string `json:"attention,omitempty"`
	// Error says why the project's model or containers could not be read.
	Error string `json:"error,omitempty"`
	// StateUnknown marks a project whose containers could not be read (the
	// engine is down): what the ledger says is all there is.
	StateUnknown bool `json:"state_unknown,omitempty"`
	// Drift names the services whose containers no longer match what the
	// last deploy of them brought up (changed by hand since):
	// `docker forge diff PROJECT running` shows how.
	Drift []string `json:"drift,omitempty"`
}

// ServiceStatus is a service and what it runs.
type ServiceStatus struct {
	Name   string `json:"name"`
	Image  string `json:"image"`
	Digest string `json:"digest,omitempty"`
	// ImageID is the local image the container runs (what a service pinned
	// by image ID is known by).
	ImageID string `json:"image_id,omitempty"`
	State   string `json:"state,omitempty"`
	// Enabled reports whether the service carries forge.enable=true, that
	// is whether pushes and polls move it.
	Enabled bool `json:"forge_enabled"`
}

// projectLister is the part of the engine that `ls` reads.
type projectLister interface {
	Projects(ctx context.Context) ([]forge.ProjectRef, error)
	LoadProject(ctx context.Context, ref forge.ProjectRef) (forge.Project, error)
	Running(ctx context.Context, project string) (map[string]forge.Running, error)
}

// hostReader is the part of the engine that `stats --system` reads.
type hostReader interface {
	Host(ctx context.Context) (forge.HostStats, error)
}

// Local answers the CLI in-process, on an open ledger and engine.
type Local struct {
	// Name is the engine's (its docker context's).
	Name       string
	Dispatcher *dispatch.Dispatcher
	Ledger     *ledger.Ledger
	Engine     interface {
		projectLister
		hostReader
		logReader
	}
	// Channels are the masked names of the daemon's notification channels.
	Channels []string
	// Now is the clock for stats windows; nil means time.Now.
	Now func() time.Time
}

// Deploy runs a manual deploy now.
func (l *Local) Deploy(ctx context.Context, req dispatch.Request) (forge.Deploy, error) {
	return l.Dispatcher.Deploy(ctx, req)
}

// Rollback replays an earlier deploy now.
func (l *Local) Rollback(ctx context.Context, req dispatch.RollbackRequest) (forge.Deploy, error) {
	return l.Dispatcher.Rollback(ctx, req)
}

// Lock returns the project's images as of a successful deploy.
func (l *Local) Lock(ctx context.Context, project string, deploy uint64) (dispatch.Lock, error) {
	return l.Dispatcher.Lock(ctx, project, deploy)
}

// Diff compares a project's configuration at two deploys.
func (l *Local) Diff(ctx context.Context, project, from, to string) (dispatch.Diff, error) {
	return l.Dispatcher.Diff(ctx, project, from, to)
}

// Forget deletes what the ledger keeps of a project.
func (l *Local) Forget(ctx context.Context, project string, force bool) (ledger.Forgotten, error) {
	return l.Dispatcher.Forget(ctx, project, force)
}

// History returns a project's deploys, newest first.
func (l *Local) History(_ context.Context, project string, limit int) ([]forge.Deploy, error) {
	h, err := l.Ledger.History(project, limit)
	if err != nil {
		return nil, err
	}
	if h == nil {
		h = []forge.Deploy{}
	}
	return h, nil
}

// Projects lists the projects forge knows: those with containers and those
// it deployed before, with their services and last deploy. With the engine
// down it lists those the ledger knows, their live state unknown.
func (l *Local) Projects(ctx context.Context) ([]ProjectStatus, error) {
	refs, engineDown, err := l.refs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	out := []ProjectStatus{}
	for _, ref := range refs {
		if st, ok := l.status(ctx, ref, engineDown); ok {
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Project is one project's status, whether or not forge follows it;
// dispatch.ErrUnknownProject when neither the engine nor the ledger knows it.
func (l *Local) Project(ctx context.Context, name string) (ProjectStatus, error) {
	refs, engineDown, err := l.refs(ctx)
	if err != nil {
		return ProjectStatus{}, fmt.Errorf("project %s: %w", name, err)
	}
	for _, ref := range refs {
		if ref.Name == name {
			st, _ := l.status(ctx, ref, engineDown)
			return st, nil
		}
	}
	return ProjectStatus{}, fmt.Errorf("project %s: %w", name, dispatch.ErrUnknownProject)
}

// refs are the projects with containers and those the ledger remembers;
// engineDown says the engine could not be asked.
func (l *Local) refs(ctx context.Context) ([]forge.ProjectRef, bool, error) {
	refs, engineErr := l.Engine.Projects(ctx)
	engineDown := errors.Is(engineErr, forge.ErrEngineUnavailable)
	if engineErr != nil && !engineDown {
		return nil, false, engineErr
	}
	saved, err := l.Ledger.Projects()
	if err != nil {
		return nil, false, err
	}
	refs = dispatch.MergeProjects(refs, saved)
	if engineDown && len(refs) == 0 {
		return nil, true, fmt.Errorf("none recorded in the ledger: %w", engineErr)
	}
	return refs, engineDown, nil
}

// status is one project's line; ok is false for a compose project forge has
// nothing to do with (no service follows pushes, never deployed).
func (l *Local) status(ctx context.Context, ref forge.ProjectRef, engineDown bool) (ProjectStatus, bool) {
	st := ProjectStatus{Name: ref.Name, Engine: l.Name, Stack: ref.Stack, WorkingDir: ref.WorkingDir, Services: []ServiceStatus{}}
	hist, _ := l.Ledger.History(ref.Name, driftDepth)
	if len(hist) > 0 {
		st.LastDeploy = &hist[0]
	}
	st.Attention, _ = l.Ledger.Attention(ref.Name)
	if engineDown {
		// The ledger still knows the project and its queued deploys.
		st.Error, st.StateUnknown = ReasonEngineDown, true
		return st, true
	}
	p, err := l.Engine.LoadProject(ctx, ref)
	if err != nil {
		st.Error = ReasonLoad
		return st, true
	}
	running, err := l.Engine.Running(ctx, ref.Name)
	if err != nil {
		st.Error, st.StateUnknown = ReasonContainers, true
	}
	enabled := false
	for _, s := range p.Services {
		r := running[s.Name]
		st.Services = append(st.Services, ServiceStatus{Name: s.Name, Image: s.Image, Digest: r.Digest, ImageID: r.ImageID, State: r.State, Enabled: s.Enabled()})
		enabled = enabled || s.Enabled()
	}
	if err == nil {
		st.Drift = drift(hist, running)
	}
	return st, enabled || st.LastDeploy != nil
}

// driftDepth is how many deploys back drift looks for each service's last.
const driftDepth = 50

// drift names the services whose container no longer runs what the newest
// successful deploy of it (newest-first hist) left: another config hash (a
// configuration changed by hand), or another image. Nothing drifts while a
// deploy of the project runs or waits.
func drift(hist []forge.Deploy, running map[string]forge.Running) []string {
	if len(hist) > 0 && !hist[0].Status.Final() {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, h := range hist {
		if h.Status != forge.StatusSucceeded {
			continue
		}
		for _, s := range h.Services {
			if seen[s.Service] || s.ConfigHash == "" {
				continue
			}
			seen[s.Service] = true
			r, ok := running[s.Service]
			ran := r.Digest
			if s.ByImageID() {
				ran = r.ImageID
			}
			if ok && (r.ConfigHash != s.ConfigHash || s.Digest != "" && ran != s.Digest) {
				out = append(out, s.Service)
			}
		}
	}
	sort.Strings(out)
	return out
}
