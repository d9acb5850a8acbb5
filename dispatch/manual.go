package dispatch

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

// Request asks for a manual deploy.
type Request struct {
	// Ref locates the project; with only a Name, the project is looked up
	// among running and previously deployed projects.
	Ref forge.ProjectRef
	// Services to deploy; empty means every service of the project (of its
	// active profiles), as compose up -d brings up.
	Services []string
	// User names who asked, for the ledger.
	User string
	// Build builds the services with a build: section first, as compose up
	// --build does; without it only those whose image is missing are built.
	Build bool
	// NoWait refuses, with a *BusyError, when another deploy of the project
	// runs or is queued, instead of waiting for it.
	NoWait bool
}

// Deploy pins the project's services and brings them up now, in its
// project's turn: registry images to their tags' current digests, local
// images (built, imported, loaded; never pushed) to their image IDs. What a
// person names is deployed whether or not it is forge-enabled: the label
// decides what pushes and polls may move. It returns the recorded deploy; a
// deploy that failed also returns a *Failure.
func (d *Dispatcher) Deploy(ctx context.Context, req Request) (forge.Deploy, error) {
	ref, err := d.locate(ctx, req.Ref)
	if err != nil {
		return forge.Deploy{}, fmt.Errorf("deploy %s: %w", req.Ref.Name, err)
	}
	p, err := d.eng.LoadProject(ctx, ref)
	if err != nil {
		if ref.Name == "" {
			return forge.Deploy{}, fmt.Errorf("deploy: %w", err)
		}
		return d.recordFailure(ref.Name, forge.ReasonManual, req.User, d.engineReason(err, reasonLoad), err)
	}
	j := &job{
		deploy:   forge.Deploy{Project: p.Ref.Name, Reason: forge.ReasonManual, Queued: d.now(), Trigger: forge.Trigger{User: req.User}},
		ref:      p.Ref,
		services: map[string]want{},
		explicit: true,
		build:    req.Build,
	}
	switch {
	case p.Source != nil && len(req.Services) == 0 && d.git != nil:
		// A git-sourced project is deployed whole at its branch's tip.
		j.git = &gitWant{}
	case len(req.Services) == 0:
		for _, s := range p.Services {
			j.services[s.Name] = want{}
		}
		if len(j.services) == 0 {
			return forge.Deploy{}, fmt.Errorf("deploy %s: the compose project has no service (with the profiles given)", p.Ref.Name)
		}
	}
	for _, name := range req.Services {
		found := false
		for _, s := range p.Services {
			found = found || s.Name == name
		}
		if !found {
			return forge.Deploy{}, fmt.Errorf("deploy %s: no service %q in the compose project", p.Ref.Name, name)
		}
		j.services[name] = want{}
	}
	t, err := d.lineUp(j.deploy.Project, req.NoWait)
	if err != nil {
		return forge.Deploy{}, fmt.Errorf("deploy %s: %w", j.deploy.Project, err)
	}
	defer d.endTurn(t)
	if err := t.wait(ctx); err != nil {
		return forge.Deploy{}, fmt.Errorf("deploy %s: %w", j.deploy.Project, err)
	}
	err = d.execute(ctx, j)
	return j.deploy, err
}

// recordFailure records a deploy that failed before it could start, logging
// the scrubbed detail.
func (d *Dispatcher) recordFailure(project string, reason forge.Reason, user, why string, cause error) (forge.Deploy, error) {
	now := d.now()
	dep := forge.Deploy{
		Project: project, Reason: reason, Trigger: forge.Trigger{User: user},
		Status: forge.StatusFailed, Error: why, Queued: now, Started: now, Finished: now,
	}
	if err := d.led.CreateFinal(&dep, d.notificationsOf(forge.Project{Ref: forge.ProjectRef{Name: project}})); err != nil {
		return forge.Deploy{}, fmt.Errorf("deploy %s: %w", project, err)
	}
	d.woke()
	d.log.Error("deploy failed", "project", project, "deploy_id", dep.ID, "reason", why)
	d.log.Debug("deploy failure detail", "project", project, "deploy_id", dep.ID, "error", d.scrub.String(cause.Error()))
	return dep, &Failure{Deploy: dep}
}

// RollbackRequest asks to replay an earlier deploy's pinned digests.
type RollbackRequest struct {
	Project string
	// To is the deploy to return to; 0 means the successful deploy before
	// the current one.
	To uint64
	// Services narrows the rollback; empty means every service of that deploy.
	Services []string
	User     string
	// NoWait refuses, with a *BusyError, when another deploy of the project
	// runs or is queued, instead of waiting for it.
	NoWait bool
	// ImagesOnly returns the services to the images only, keeping the
	// configuration the compose file has now; without it, the
	// configuration the deploy returned to ran with is restored too.
	ImagesOnly bool
}

// Rollback replays the digests of an earlier successful deploy, recorded as
// a new deploy with reason rollback. It takes its turn behind the deploys
// of the project running or queued, and chooses what to return to once its
// turn comes, from the history as it stands then: with To, the services
// return to that deploy's digests; without, the newest deploy that changed
// them is undone: each service it moved goes back to the digest it replaced.
func (d *Dispatcher) Rollback(ctx context.Context, req RollbackRequest) (forge.Deploy, error) {
	ref, err := d.locate(ctx, forge.ProjectRef{Name: req.Project})
	if err != nil {
		return forge.Deploy{}, fmt.Errorf("rollback %s: %w", req.Project, err)
	}
	t, err := d.lineUp(req.Project, req.NoWait)
	if err != nil {
		return forge.Deploy{}, fmt.Errorf("rollback %s: %w", req.Project, err)
	}
	defer d.endTurn(t)
	if err := t.wait(ctx); err != nil {
		return forge.Deploy{}, fmt.Errorf("rollback %s: %w", req.Project, err)
	}
	j, err := d.rollbackJob(req, ref)
	if err != nil {
		return forge.Deploy{}, err
	}
	err = d.execute(ctx, j)
	return j.deploy, err
}

// rollbackJob is the deploy a rollback runs, its targets read from the
// history now.
func (d *Dispatcher) rollbackJob(req RollbackRequest, ref forge.ProjectRef) (*job, error) {
	t, isGit, err := d.gitRollbackTarget(req)
	if err != nil {
		return nil, err
	}
	var (
		pins map[string]want
		of   = t.ID
	)
	if !isGit {
		if pins, of, err = d.rollbackPins(req); err != nil {
			return nil, err
		}
	}
	j := &job{
		deploy: forge.Deploy{
			Project: req.Project, Reason: forge.ReasonRollback, RollbackOf: of,
			Queued: d.now(), Trigger: forge.Trigger{User: req.User},
		},
		ref:      ref,
		services: map[string]want{},
		explicit: true,
	}
	if isGit {
		// The whole project returns to the commit, with the images that
		// deploy built where the engine still has them.
		j.git = &gitWant{commit: t.Commit, targets: t.Services}
		j.deploy.Commit = t.Commit
	}
	maps.Copy(j.services, pins)
	return j, nil
}

// gitRollbackTarget returns the git deploy a rollback returns to: the one
// named, or, when the newest successful deploy was a git deploy, the newest
// successful one before it at another commit. ok is false for a rollback
// of image digests.
func (d *Dispatcher) gitRollbackTarget(req RollbackRequest) (forge.Deploy, bool, error) {
	var t forge.Deploy
	if req.To != 0 {
		var err error
		if t, err = d.rollbackTo(req); err != nil {
			return t, false, err
		}
		if t.Commit == "" {
			return t, false, nil
		}
	} else {
		hist, err := d.led.History(req.Project, 0)
		if err != nil {
			return t, false, fmt.Errorf("rollback %s: %w", req.Project, err)
		}
		cur := lastGitDeploy(hist, 0)
		if cur.Commit == "" || !isNewestSuccess(hist, cur.ID) {
			return t, false, nil
		}
		for _, h := range hist {
			if h.ID < cur.ID && h.Status == forge.StatusSucceeded && h.Commit != "" && h.Commit != cur.Commit {
				t = h
				break
			}
		}
		if t.ID == 0 {
			return t, false, fmt.Errorf("rollback %s: no earlier commit was deployed: %w", req.Project, ErrNothingToRollBack)
		}
	}
	if len(req.Services) > 0 {
		return t, false, fmt.Errorf("rollback %s: %s", req.Project, reasonGitRollTo)
	}
	if d.git == nil {
		return t, false, fmt.Errorf("rollback %s: %s", req.Project, reasonNoGit)
	}
	return t, true, nil
}

// isNewestSuccess reports whether id is the newest successful deploy in
// hist (newest first).
func isNewestSuccess(hist []forge.Deploy, id uint64) bool {
	for _, h := range hist {
		if h.Status == forge.StatusSucceeded {
			return h.ID == id
		}
	}
	return false
}

// rollbackPins returns what each service returns to (a digest, or a local
// image ID), and the deploy that deployed it.
func (d *Dispatcher) rollbackPins(req RollbackRequest) (map[string]want, uint64, error) {
	if req.To != 0 {
		t, err := d.rollbackTo(req)
		if err != nil {
			return nil, 0, err
		}
		pins := map[string]want{}
		for _, s := range t.Services {
			if s.Digest != "" && (len(req.Services) == 0 || contains(req.Services, s.Service)) {
				pins[s.Service] = want{digest: s.Digest, local: s.ByImageID(), image: s.Image, snapshot: configOf(req, s)}
			}
		}
		for _, name := range req.Services {
			if _, ok := pins[name]; !ok {
				return nil, 0, fmt.Errorf("rollback %s: deploy %d has no digest for service %q", req.Project, t.ID, name)
			}
		}
		if len(pins) == 0 {
			return nil, 0, fmt.Errorf("rollback %s: deploy %d recorded no digest to return to", req.Project, t.ID)
		}
		return pins, t.ID, nil
	}
	hist, err := d.led.History(req.Project, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("rollback %s: %w", req.Project, err)
	}
	// The newest successful deploy that moved one of the services asked for
	// is undone: each service it moved returns to the digest it replaced, as
	// an earlier successful deploy ran it.
	for i, h := range hist {
		if h.Status != forge.StatusSucceeded {
			continue
		}
		pins := map[string]want{}
		var of uint64
		movedAny := false
		for _, s := range h.Services {
			moved := s.Previous != "" && s.Previous != s.Digest
			if !moved || (len(req.Services) > 0 && !contains(req.Services, s.Service)) {
				continue
			}
			movedAny = true
			if id := deployedBy(hist[i+1:], s.Service, s.Previous); id != 0 {
				back, _ := findDeploy(hist, id).Service(s.Service)
				pins[s.Service] = want{digest: s.Previous, local: s.ByImageID(), image: s.Image, snapshot: configOf(req, back)}
				of = max(of, id)
			}
		}
		if !movedAny {
			continue // a redeploy of what ran: nothing to undo
		}
		if len(pins) == 0 {
			break // what ran before was never deployed by forge, or was pruned
		}
		return pins, of, nil
	}
	return nil, 0, fmt.Errorf("rollback %s: %w", req.Project, ErrNothingToRollBack)
}

// configOf is the snapshot a rollback restores a service to: the one the
// deploy it returns to recorded, unless asked for the images only.
func configOf(req RollbackRequest, s forge.ServiceDeploy) string {
	if req.ImagesOnly {
		return ""
	}
	return s.Snapshot
}

func findDeploy(hist []forge.Deploy, id uint64) forge.Deploy {
	for _, h := range hist {
		if h.ID == id {
			return h
		}
	}
	return forge.Deploy{}
}

// deployedBy returns the newest successful deploy in hist (newest first)
// that ran digest for service, 0 when there is none.
func deployedBy(hist []forge.Deploy, service, digest string) uint64 {
	for _, h := range hist {
		if s, ok := h.Service(service); ok && h.Status == forge.StatusSucceeded && s.Digest == digest {
			return h.ID
		}
	}
	return 0
}

func (d *Dispatcher) rollbackTo(req RollbackRequest) (forge.Deploy, error) {
	t, err := d.led.Get(req.To)
	if errors.Is(err, ledger.ErrNotFound) {
		return forge.Deploy{}, fmt.Errorf("rollback %s: %w", req.Project, notRecorded(fmt.Sprintf("no deploy %d is recorded (see docker forge history %s)", req.To, req.Project)))
	}
	if err != nil {
		return forge.Deploy{}, fmt.Errorf("rollback %s: %w", req.Project, err)
	}
	if t.Project != req.Project {
		return forge.Deploy{}, fmt.Errorf("rollback %s: deploy %d belongs to project %s", req.Project, req.To, t.Project)
	}
	if t.Status != forge.StatusSucceeded {
		return forge.Deploy{}, fmt.Errorf("rollback %s: deploy %d did not succeed (%s)", req.Project, req.To, t.Status)
	}
	return t, nil
}

// locate completes a project reference from the running projects and the
// ledger when only a name is known.
func (d *Dispatcher) locate(ctx context.Context, ref forge.ProjectRef) (forge.ProjectRef, error) {
	if len(ref.ConfigFiles) > 0 || ref.WorkingDir != "" {
		return ref, nil
	}
	if ref.Name == "" {
		return ref, errors.New("no project named")
	}
	refs, err := d.KnownProjects(ctx)
	if err != nil {
		return ref, fmt.Errorf("find project %s: %w", ref.Name, err)
	}
	for _, r := range refs {
		if r.Name == ref.Name {
			return r, nil
		}
	}
	return ref, fmt.Errorf("%w: no container runs %s and no deploy of it is recorded (deploy a new project with -f compose.yaml -p %s)", ErrUnknownProject, ref.Name, ref.Name)
}

// ErrUnknownProject is returned for a project that neither runs nor was
// deployed before. People read it, so it names no package.
var ErrUnknownProject = errors.New("unknown project")

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
