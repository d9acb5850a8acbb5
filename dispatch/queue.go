package dispatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/docker-forge/docker-forge"
)

// Recover picks up the deploys a previous daemon left unfinished, so nothing
// accepted is lost: a queued deploy (the durable inbox) is queued again; a
// deploy that was running is marked interrupted and converged again by a new
// deploy with the same targets, which recreates only what does not run them
// yet. Call it once, before Run.
func (d *Dispatcher) Recover() error {
	stale, err := d.led.Unfinished()
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	// Queued deploys first: they hold the newest pushes, and a deploy that
	// was running converges again by joining them where it can.
	slices.SortStableFunc(stale, func(a, b forge.Deploy) int {
		return cmp.Compare(statusOrder(a.Status), statusOrder(b.Status))
	})
	for _, dep := range stale {
		if len(dep.Services) == 0 && dep.Commit == "" {
			// A record without targets cannot be run again: say so, never
			// call it a success.
			dep.Status, dep.Error, dep.Finished = forge.StatusFailed, reasonInterrupt, d.now()
			if err := d.led.Update(dep); err != nil {
				return fmt.Errorf("recover: %w", err)
			}
			_ = d.led.SetAttention(dep.Project, fmt.Sprintf("deploy %d was interrupted by a restart and could not be run again", dep.ID))
			continue
		}
		if dep.Status != forge.StatusRunning {
			// A queued deploy that resumes an interrupted one gates all
			// its targets, as a deploy converging after a crash does.
			if err := d.requeue(dep, dep.Resumes != 0); err != nil {
				return fmt.Errorf("recover: %w", err)
			}
			continue
		}
		// The deploy that converges again is recorded before the running
		// one is marked interrupted: a crash in between leaves both, and
		// the next start joins them, losing neither.
		interrupted := dep
		interrupted.Status, interrupted.Error, interrupted.Finished = forge.StatusInterrupted, reasonInterrupt, d.now()
		dep.Resumes = dep.ID
		dep.ID, dep.Status, dep.Error = 0, forge.StatusQueued, ""
		dep.Started, dep.Finished = time.Time{}, time.Time{}
		if err := d.requeue(dep, true); err != nil {
			return fmt.Errorf("recover: %w", err)
		}
		if err := d.led.Update(interrupted); err != nil {
			return fmt.Errorf("recover: %w", err)
		}
		d.log.Warn("deploy interrupted by a restart; converging again", "project", interrupted.Project, "deploy_id", interrupted.ID)
	}
	return nil
}

func statusOrder(s forge.Status) int {
	if s == forge.StatusQueued {
		return 0
	}
	return 1
}

// requeue queues a recorded deploy again from its record: its services, the
// image (with tag) and the digest each was asked to run.
func (d *Dispatcher) requeue(dep forge.Deploy, recovered bool) error {
	refs, err := d.led.Projects()
	if err != nil {
		return err
	}
	ref := forge.ProjectRef{Name: dep.Project}
	for _, r := range refs {
		if r.Name == dep.Project {
			ref = r
		}
	}
	svcs := map[string]want{}
	for _, s := range dep.Services {
		w := want{digest: s.Requested, image: s.Image, local: s.Local, snapshot: s.RequestedConfig}
		w.confirm = w.digest != "" && dep.Reason == forge.ReasonPush && dep.Trigger.Provider != forge.ProviderPoll
		if s.Image != "" {
			_, w.tag, _ = imageTag(s.Image)
		}
		svcs[s.Service] = w
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.pending[dep.Project]; old != nil && recovered {
		// A deploy converging again joins the queued one, whose targets
		// are newer: it adds only the services that one lacks.
		for name, w := range svcs {
			if _, ok := old.services[name]; !ok {
				old.services[name] = w
			}
		}
		if old.git == nil && dep.Commit != "" {
			old.git = &gitWant{commit: dep.Commit}
			old.deploy.Commit = dep.Commit
		}
		old.deploy.Services = servicesOf(old.services)
		return d.led.Update(old.deploy)
	}
	var olderGit *gitWant
	if old := d.pending[dep.Project]; old != nil {
		olderGit = old.git
		// Two unfinished deploys of one project: the newer takes the older's
		// targets it does not have, and the older is done.
		for name, w := range old.services {
			if _, ok := svcs[name]; !ok {
				svcs[name] = w
			}
		}
		old.deploy.Status, old.deploy.Error, old.deploy.Finished = forge.StatusInterrupted, fmt.Sprintf("merged into deploy of %s queued later", dep.Project), d.now()
		if err := d.led.Update(old.deploy); err != nil {
			return err
		}
		delete(d.pending, dep.Project)
		d.leaveLine(old.turn)
	}
	j := &job{deploy: dep, ref: ref, services: svcs, explicit: dep.Reason != forge.ReasonPush, recovered: recovered}
	if dep.Commit != "" {
		// A git deploy runs again at its commit; a rollback with the
		// images and digests of the deploy it returns to.
		j.git = &gitWant{commit: dep.Commit} // image pushes that joined it stay in j.services
		if dep.RollbackOf != 0 {
			if t, err := d.led.Get(dep.RollbackOf); err == nil {
				j.git.targets = t.Services
			}
		}
	} else if olderGit != nil {
		j.git = olderGit
		j.deploy.Commit = olderGit.commit
	}
	j.deploy.Services = servicesOf(j.services)
	var werr error
	if j.deploy.ID == 0 {
		werr = d.led.Create(&j.deploy)
	} else {
		werr = d.led.Update(j.deploy)
	}
	if werr != nil {
		return werr
	}
	d.schedule(j)
	return nil
}

// schedule makes j its project's pending deploy, in its line, and wakes
// Run. d.mu is held.
func (d *Dispatcher) schedule(j *job) {
	d.pending[j.deploy.Project] = j
	j.turn = d.takeTurn(j.deploy.Project)
	d.ready = append(d.ready, j.deploy.Project)
	select {
	case d.wake <- struct{}{}:
	default: // Run has a wake-up pending already; it reads all of ready
	}
}

// Run drains the queue until ctx ends, one deploy at a time per project.
// Once ctx ends it starts no new deploy, lets the running ones finish for up
// to StopGrace, then cancels them and returns when they have recorded their
// outcome. Deploys still queued stay in the ledger and are marked
// interrupted by the next Recover.
func (d *Dispatcher) Run(ctx context.Context) error {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var wg sync.WaitGroup
	for {
		select {
		case <-ctx.Done():
			idle := make(chan struct{})
			go func() { wg.Wait(); close(idle) }()
			select {
			case <-idle:
			case <-time.After(d.grace):
				d.log.Warn("stop grace over: cancelling running deploys")
				cancelWork()
				select {
				case <-idle:
				case <-time.After(10 * time.Second):
					d.log.Error("running deploys did not stop 10s after being cancelled; leaving them to the next start")
				}
			}
			return nil
		case <-d.wake:
			d.mu.Lock()
			var start []string
			for _, project := range d.ready {
				if !d.workers[project] {
					d.workers[project] = true
					start = append(start, project)
				}
			}
			d.ready = d.ready[:0]
			d.mu.Unlock()
			for _, project := range start {
				wg.Go(func() { d.drain(ctx, work, project) })
			}
		}
	}
}

// drain runs a project's queued deploys until none is left or ctx ends; the
// deploys themselves run on work.
func (d *Dispatcher) drain(ctx, work context.Context, project string) {
	for ctx.Err() == nil {
		d.mu.Lock()
		j := d.nextJob(project)
		if j == nil {
			d.workers[project] = false
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		// A manual deploy or rollback asked for before this one runs first.
		if err := j.turn.wait(work); err != nil || ctx.Err() != nil {
			d.endTurn(j.turn)
			break // still queued in the ledger: the next start runs it
		}
		err := d.execute(work, j)
		d.endTurn(j.turn)
		if errors.Is(err, errEngineDown) {
			d.retryLater(ctx, j)
		} else {
			d.mu.Lock()
			delete(d.backoff, project)
			d.mu.Unlock()
		}
	}
	d.mu.Lock()
	d.workers[project] = false
	d.mu.Unlock()
}

// retryLater waits out the project's backoff and puts j back in front of
// its queue; pushes that arrived meanwhile join it, newest winning.
func (d *Dispatcher) retryLater(ctx context.Context, j *job) {
	project := j.deploy.Project
	d.mu.Lock()
	wait := min(max(2*d.backoff[project], time.Second), 30*time.Second)
	d.backoff[project] = wait
	d.mu.Unlock()
	d.log.Warn("docker engine unreachable; deploy stays queued", "project", project, "deploy_id", j.deploy.ID, "retry_in", wait.String())
	select {
	case <-ctx.Done():
		return // it stays queued in the ledger; Recover picks it up
	case <-time.After(wait):
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// A deploy still being recorded takes j over once it is (see enqueue).
	if newer := d.pending[project]; newer != nil {
		// The newer deploy's targets win; j's other services join it.
		for name, w := range j.services {
			if _, ok := newer.services[name]; !ok {
				newer.services[name] = w
			}
		}
		if newer.git == nil && j.git != nil {
			newer.git = j.git
			newer.deploy.Commit = j.git.commit
		}
		// The joined record first: a crash in between leaves both queued.
		newer.deploy.Services = servicesOf(newer.services)
		if err := d.led.Update(newer.deploy); err != nil {
			d.log.Error("queued deploy not recorded", "project", project, "deploy_id", newer.deploy.ID, "error", err)
		}
		j.deploy.Status, j.deploy.Error, j.deploy.Finished = forge.StatusInterrupted, fmt.Sprintf("merged into deploy %d", newer.deploy.ID), d.now()
		if err := d.led.Update(j.deploy); err != nil {
			d.log.Error("merged deploy not recorded", "project", project, "deploy_id", j.deploy.ID, "error", err)
		}
		return
	}
	d.pending[project] = j
	j.turn = d.takeTurn(project)
}

// absorb moves j's targets (newer) into older, a queued deploy of the same
// project, records both, and marks j done. d.mu is held.
func (d *Dispatcher) absorb(older, j *job) error {
	for name, w := range j.services {
		older.services[name] = w
	}
	if j.git != nil {
		older.git = j.git
		older.deploy.Commit = j.git.commit
	}
	older.deploy.Trigger = j.deploy.Trigger
	older.deploy.Services = servicesOf(older.services)
	if err := d.led.Update(older.deploy); err != nil {
		return err
	}
	j.deploy.Status, j.deploy.Error, j.deploy.Finished = forge.StatusInterrupted, fmt.Sprintf("merged into deploy %d", older.deploy.ID), d.now()
	return d.led.Update(j.deploy)
}

// servicesOf is the queued record of a deploy's targets.
func servicesOf(svcs map[string]want) []forge.ServiceDeploy {
	var out []forge.ServiceDeploy
	for _, name := range sortedKeys(svcs) {
		w := svcs[name]
		out = append(out, forge.ServiceDeploy{Service: name, Image: w.image, Requested: w.digest, Local: w.local, RequestedConfig: w.snapshot})
	}
	return out
}

// enqueue queues a push's deploy of a project, or joins the one already
// queued: apply adds the push's targets to the job, newest winning.
func (d *Dispatcher) enqueue(ref forge.ProjectRef, trig forge.Trigger, apply func(j *job)) (forge.QueuedDeploy, error) {
	// The join happens under d.mu; the disk write does not, so pushes
	// arriving together share one transaction and one sync. A revision
	// keeps a slower write from replacing a newer one.
	d.mu.Lock()
	j := d.pending[ref.Name]
	if j == nil {
		j = d.creating[ref.Name]
	}
	isNew := j == nil
	if isNew {
		if len(d.pending)+len(d.creating) >= d.maxQueued {
			d.mu.Unlock()
			return forge.QueuedDeploy{}, ErrQueueFull
		}
		j = &job{
			deploy:   forge.Deploy{Project: ref.Name, Reason: forge.ReasonPush, Status: forge.StatusQueued, Queued: d.now()},
			ref:      ref,
			services: map[string]want{},
			created:  make(chan struct{}),
		}
		d.creating[ref.Name] = j
	}
	j.deploy.Trigger = trig
	apply(j)
	j.deploy.Services = servicesOf(j.services)
	if j.git != nil {
		j.deploy.Commit = j.git.commit
	}
	j.rev++
	rev, snap := j.rev, j.deploy
	services := sortedKeys(j.services)
	created := j.created
	d.mu.Unlock()

	if isNew {
		err := d.led.CreateQueued(&snap, rev)
		d.mu.Lock()
		delete(d.creating, ref.Name)
		j.createErr = err
		if err == nil {
			j.deploy.ID = snap.ID
			if older := d.pending[ref.Name]; older != nil {
				// A deploy came back to the queue meanwhile (an engine
				// outage): it takes this one's newer targets, and this one
				// is done, so one deploy per project waits.
				err = d.absorb(older, j)
			} else {
				d.schedule(j)
			}
		}
		close(j.created)
		d.mu.Unlock()
		if err != nil {
			return forge.QueuedDeploy{}, fmt.Errorf("queue deploy of %s: %w", ref.Name, err)
		}
		return forge.QueuedDeploy{ID: snap.ID, Project: ref.Name, Engine: d.led.Scope(), Services: services, Commit: snap.Commit, Status: forge.StatusQueued}, nil
	}
	if created != nil {
		<-created // a push that joins a deploy still being recorded waits for its id
	}
	d.mu.Lock()
	err, id := j.createErr, j.deploy.ID
	d.mu.Unlock()
	if err != nil {
		return forge.QueuedDeploy{}, fmt.Errorf("queue deploy of %s: %w", ref.Name, err)
	}
	snap.ID = id
	if err := d.led.UpdateQueued(snap, rev); err != nil {
		return forge.QueuedDeploy{}, fmt.Errorf("queue deploy of %s: %w", ref.Name, err)
	}
	return forge.QueuedDeploy{ID: id, Project: ref.Name, Engine: d.led.Scope(), Services: services, Commit: snap.Commit, Status: forge.StatusQueued}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
