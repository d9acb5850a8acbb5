package dispatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

// execute runs one deploy, in its turn (the caller waited for it), and
// records its outcome. It returns a *Failure when the deploy did not
// succeed.
func (d *Dispatcher) execute(ctx context.Context, j *job) error {
	d.setActive(j.ref.Name, 0)
	defer d.clearActive(j.ref.Name)
	dep := &j.deploy
	// The ledger marks what it writes with its engine; the copy that goes
	// to notifications (made before the final write) says it too.
	dep.Engine = cmp.Or(dep.Engine, d.led.Scope())
	dep.Status = forge.StatusRunning
	dep.Started = d.now()
	dep.Phases = forge.Phases{}
	if !dep.Queued.IsZero() && dep.Started.After(dep.Queued) {
		dep.Phases.Queue = dep.Started.Sub(dep.Queued)
	}
	if len(dep.Services) == 0 && j.git == nil {
		// The targets are on disk before anything runs, so a crash leaves a
		// record Recover can run again (a git deploy's target is its commit).
		dep.Services = servicesOf(j.services)
	}
	if j.git != nil && dep.Commit == "" {
		dep.Commit = j.git.commit
	}
	if dep.ID == 0 {
		if err := d.led.Create(dep); err != nil {
			return fmt.Errorf("deploy %s: %w", j.ref.Name, err)
		}
	} else if err := d.led.Update(*dep); err != nil {
		return fmt.Errorf("deploy %s: %w", j.ref.Name, err)
	}
	d.setActive(j.ref.Name, dep.ID)
	log := d.log.With("project", dep.Project, "deploy_id", dep.ID)
	if j.git != nil {
		log.Info("deploy started", "reason", dep.Reason, "commit", shortSHA(j.git.commit))
	} else {
		log.Info("deploy started", "reason", dep.Reason, "services", sortedKeys(j.services))
	}

	reason, err := d.converge(ctx, j)
	if errors.Is(err, forge.ErrEngineUnavailable) && dep.Reason == forge.ReasonPush && ctx.Err() == nil {
		// A push waits for the engine: it stays queued and is retried.
		dep.Status, dep.Started, dep.Phases = forge.StatusQueued, time.Time{}, forge.Phases{}
		dep.Services = servicesOf(j.services) // every target, not the ones converge got to
		if j.git != nil {
			dep.Commit = j.git.commit
		}
		if uerr := d.led.Update(*dep); uerr != nil {
			return fmt.Errorf("deploy %s: %w", j.ref.Name, uerr)
		}
		log.Debug("deploy waits for the engine", "error", d.scrub.String(err.Error()))
		return errEngineDown
	}
	dep.Finished = d.now()
	switch {
	case err != nil && ctx.Err() != nil:
		// The daemon stopped and its grace ran out mid-deploy: interrupted,
		// with a queued deploy of the same targets that the next start runs.
		dep.Status = forge.StatusInterrupted
		dep.Error = reasonInterrupt
		next := forge.Deploy{Project: dep.Project, Reason: dep.Reason, Trigger: dep.Trigger, Status: forge.StatusQueued,
			Queued: d.now(), Services: servicesOf(j.services), RollbackOf: dep.RollbackOf, Reverts: dep.Reverts, Resumes: dep.ID,
			Commit: dep.Commit}
		log.Warn("deploy interrupted; queued to converge at the next start", "reason", reasonInterrupt)
		log.Debug("deploy interruption detail", "error", d.scrub.String(err.Error()))
		if cerr := d.led.Chain(dep, &next, nil, j.snapshots, nil); cerr != nil {
			log.Error("deploy outcome not recorded", "error", cerr)
			return fmt.Errorf("deploy %s: %w", j.ref.Name, cerr)
		}
		return &Failure{Deploy: *dep}
	case err != nil:
		dep.Status = forge.StatusFailed
		dep.Error = reason
		log.Error("deploy failed", "reason", reason)
		log.Debug("deploy failure detail", "error", d.scrub.String(err.Error()))
		if gf, ok := errors.AsType[*gateFailure](err); ok && dep.Reason != forge.ReasonRollback && wantsRollback(gf.project, dep, gf.result) {
			d.autoRollback(ctx, j, dep)
		}
	default:
		dep.Status = forge.StatusSucceeded
		log.Info("deploy succeeded", "duration", dep.Finished.Sub(dep.Started).String())
		if err := d.led.SetAttention(dep.Project, ""); err != nil {
			log.Warn("attention flag not cleared", "error", err)
		}
	}
	// The ledger needs no context: a daemon stopping mid-deploy still writes
	// down how the deploy ended. (An automatic rollback wrote it already.)
	if dep.RevertedBy != 0 {
		return &Failure{Deploy: *dep}
	}
	d.summarize(j)
	if uerr := d.led.Finish(*dep, j.snapshots, d.notifications(j)...); uerr != nil {
		log.Error("deploy outcome not recorded", "error", uerr)
		return fmt.Errorf("deploy %s: %w", j.ref.Name, uerr)
	}
	d.woke()
	if err != nil {
		return &Failure{Deploy: *dep}
	}
	return nil
}

// converge does the work of a deploy and fills in dep.Services. On error it
// returns the generic reason to record, and the raw error for the log. A git
// deploy is convergeGit's.
func (d *Dispatcher) converge(ctx context.Context, j *job) (string, error) {
	if j.git != nil {
		return d.convergeGit(ctx, j)
	}
	dep := &j.deploy
	clock := d.phaseClock()
	p, err := d.eng.LoadProject(ctx, j.ref)
	if err != nil {
		return d.engineReason(err, reasonLoad), err
	}
	j.ref, j.project = p.Ref, p
	if err := d.led.SaveProject(p.Ref, d.now()); err != nil {
		return "ledger write failed", err
	}
	before, err := d.eng.Running(ctx, dep.Project)
	if err != nil {
		return d.engineReason(err, reasonRunning), err
	}
	if len(before) == 0 && dep.Reason == forge.ReasonPush && !j.recovered {
		return reasonNotRunning, fmt.Errorf("project %s has no containers", dep.Project)
	}

	services := map[string]forge.Service{}
	for _, s := range p.Services {
		services[s.Name] = s
	}
	pins := map[string]string{}
	tags := map[string]string{} // service -> tag to build it as, first
	dep.Services = dep.Services[:0]
	for _, name := range sortedKeys(j.services) {
		w := j.services[name]
		s, ok := services[name]
		if !ok {
			return reasonNoService, fmt.Errorf("service %q: not in project %s", name, dep.Project)
		}
		if !j.explicit && !s.Enabled() {
			return reasonNotEnabled, fmt.Errorf("service %q: no %s=true label", name, forge.LabelEnable)
		}
		image := s.Image
		if w.tag != "" {
			image = withTag(image, w.tag)
		}
		sd := forge.ServiceDeploy{Service: name, Image: image, Requested: w.digest, RequestedConfig: w.snapshot, Enabled: s.Enabled()}
		t, reason, err := d.pinService(ctx, dep.Project, s, image, w, j.build)
		if err != nil {
			sd.Previous = before[name].Digest
			dep.Services = append(dep.Services, sd)
			return serviceReason(name, image, reason), fmt.Errorf("service %s: %w", name, err)
		}
		sd.Pinned, sd.Local = t.ref, t.local
		if t.build != "" {
			sd.Image, sd.Built = t.build, true
			tags[name] = t.build
		}
		sd.Previous = before[name].Digest
		if sd.ByImageID() {
			sd.Previous = before[name].ImageID
		}
		dep.Services = append(dep.Services, sd)
	}
	if len(tags) > 0 {
		built, err := d.eng.Build(ctx, j.ref, tags)
		if err != nil {
			return d.engineReason(err, "build failed: "+strings.Join(sortedKeys(tags), ", ")), err
		}
		for i := range dep.Services {
			if id, ok := built[dep.Services[i].Service]; ok {
				dep.Services[i].Pinned = id
			}
		}
	}
	for _, sd := range dep.Services {
		pins[sd.Service] = sd.Pinned
	}
	// What each service is moving to is on record while the deploy runs, so
	// history and ls show it (and a rollback waiting its turn knows).
	if err := d.led.Update(*dep); err != nil {
		return "ledger write failed", err
	}

	restore, reason, err := d.restores(j)
	if err != nil {
		return reason, err
	}
	// A project with no container at all is brought up whole by a manual
	// deploy; a push or a rollback touches only its services.
	// So is a stack deployed by hand from its file, as docker stack deploy
	// applies it.
	whole := (len(before) == 0 || j.ref.Stack && len(j.ref.ConfigFiles) > 0) && dep.Reason == forge.ReasonManual
	dep.Phases.Resolve = clock.lap()
	res, err := d.eng.Up(ctx, forge.UpRequest{Ref: j.ref, Pins: pins, Whole: whole, Restore: restore})
	clock.lap() // the engine splits its own time: pull, then recreate
	dep.Phases.Pull, dep.Phases.Recreate = res.Pull, res.Recreate
	d.keepSnapshots(j, res)
	if err != nil {
		// Compose may have recreated some services before it failed:
		// what runs now is recorded all the same.
		if after, rerr := d.eng.Running(ctx, dep.Project); rerr == nil {
			recordPostState(dep, before, after, res.ConfigChanged)
		}
		if errors.Is(err, forge.ErrIncompleteSnapshot) {
			return reasonIncomplete, err
		}
		return d.engineReason(err, reasonUp), err
	}

	// Record what the containers run now, read back from the engine.
	after, err := d.eng.Running(ctx, dep.Project)
	if err != nil {
		return d.engineReason(err, reasonRunning), err
	}
	recordPostState(dep, before, after, res.ConfigChanged)
	var mismatch []string
	for _, sd := range dep.Services {
		// A stack's tasks that do not run (a paused swarm update) are the
		// health gate's to judge, so forge.rollback decides what follows.
		if now := after[sd.Service]; sd.Digest != sd.Target() || (now.State != "running" && !j.ref.Stack) {
			mismatch = append(mismatch, fmt.Sprintf("%s runs %q (%s), want %s", sd.Service, sd.Digest, now.State, sd.Target()))
		}
	}
	dep.Phases.Verify = clock.lap()
	if len(mismatch) > 0 {
		return reasonVerify, fmt.Errorf("verify: %v", mismatch)
	}
	g := d.gate(ctx, p, dep, before, j.recovered)
	dep.Phases.Health = clock.lap()
	if !g.passed {
		return "health gate failed: " + g.why, &gateFailure{project: p, result: g}
	}
	if len(tags) > 0 {
		hist, _ := d.led.History(dep.Project, 0)
		d.removeOldImages(ctx, *dep, hist)
	}
	return "", nil
}

// phaseClock times a deploy's phases one after the other.
type phaseClock struct {
	now  func() time.Time
	last time.Time
}

func (d *Dispatcher) phaseClock() *phaseClock {
	return &phaseClock{now: d.now, last: d.now()}
}

// lap is the time since the last lap (or the start), and starts the next.
func (c *phaseClock) lap() time.Duration {
	t := c.now()
	took := t.Sub(c.last)
	c.last = t
	return took
}

// serviceReason names the service (and its image) a generic reason is
// about, so a deploy of many services says which one failed; an engine
// that is down concerns them all.
func serviceReason(service, image, reason string) string {
	if reason == reasonEngine {
		return reason
	}
	if image == "" {
		return fmt.Sprintf("service %s: %s", service, reason)
	}
	return fmt.Sprintf("service %s (%s): %s", service, image, reason)
}

// gateFailure is a deploy whose services did not come up healthy.
type gateFailure struct {
	project forge.Project
	result  gateResult
}

func (g *gateFailure) Error() string { return "health gate: " + g.result.why }

// autoRollback returns the services of a deploy that failed its health gate
// to the digests they ran before, the last ones that passed their gate. The
// rollback is recorded, and gated, as a deploy of its own; if it fails too
// the project is marked as needing attention, and nothing more is tried.
// The project's lock is held.
func (d *Dispatcher) autoRollback(ctx context.Context, j *job, failed *forge.Deploy) {
	rb := &job{
		deploy: forge.Deploy{
			Project: failed.Project, Reason: forge.ReasonRollback,
			Trigger: failed.Trigger, Status: forge.StatusRunning, Queued: d.now(), Started: d.now(),
		},
		ref:      j.ref,
		services: map[string]want{},
		explicit: true,
	}
	hist, _ := d.led.History(failed.Project, 0)
	if failed.Commit != "" {
		// A git deploy returns whole to the commit that ran, reusing the
		// images that commit's deploy built.
		if last := lastGitDeploy(hist, failed.ID); last.Commit != "" && last.ID < failed.ID {
			// Built services return to that commit's images; image
			// services to the digests they ran before the failed deploy,
			// which a later image push may have moved past last's.
			targets := slices.Clone(last.Services)
			for i, t := range targets {
				if f, ok := failed.Service(t.Service); ok && !t.Built && f.Previous != "" {
					targets[i].Digest = f.Previous
				}
			}
			rb.git = &gitWant{commit: last.Commit, targets: targets}
			rb.deploy.RollbackOf = last.ID
			rb.deploy.Commit = last.Commit
		}
	}
	for _, s := range failed.Services {
		if failed.Commit != "" {
			break
		}
		if !s.Changed && !j.recovered {
			continue // not recreated: it still runs what passed before
		}
		// The digest of the last deploy that passed its gate, or what ran
		// before when forge never deployed this service.
		digest, of := lastPassed(hist, s.Service, failed.ID)
		if digest == "" {
			digest = s.Previous
		}
		if digest != "" {
			// The configuration that passed, too: a push that came with an
			// edit on disk is undone whole.
			w := want{digest: digest, local: s.ByImageID(), image: s.Image, snapshot: snapshotIn(hist, of, s.Service)}
			rb.services[s.Service] = w
			rb.deploy.RollbackOf = max(rb.deploy.RollbackOf, of)
		}
	}
	rb.deploy.Services = servicesOf(rb.services)
	log := d.log.With("project", failed.Project, "deploy_id", failed.ID)
	if len(rb.services) == 0 && rb.git == nil {
		log.Error("health gate failed and nothing ran before to roll back to")
		_ = d.led.Update(*failed)
		_ = d.led.SetAttention(failed.Project, fmt.Sprintf("deploy %d failed its health gate with nothing to roll back to", failed.ID))
		return
	}
	// The failed deploy's outcome and its rollback land together: a crash
	// now leaves a rollback that Recover runs again.
	d.summarize(j)
	err := d.led.Chain(failed, &rb.deploy, func(done, next *forge.Deploy) {
		done.RevertedBy, next.Reverts = next.ID, done.ID
	}, j.snapshots, d.notificationsOf(j.project))
	if err != nil {
		log.Error("automatic rollback not recorded", "error", err)
		return
	}
	log.Warn("health gate failed; rolling back", "rollback_id", rb.deploy.ID, "reason", failed.Error)
	reason, err := d.converge(ctx, rb)
	rb.deploy.Finished = d.now()
	switch {
	case err != nil && ctx.Err() != nil:
		rb.deploy.Status, rb.deploy.Error = forge.StatusQueued, ""
		rb.deploy.Started, rb.deploy.Finished = time.Time{}, time.Time{}
		rb.deploy.Services = servicesOf(rb.services)
		if rb.git != nil {
			rb.deploy.Commit = rb.git.commit
		}
		log.Warn("automatic rollback interrupted by a stop; it runs at the next start", "rollback_id", rb.deploy.ID)
	case err != nil:
		rb.deploy.Status, rb.deploy.Error = forge.StatusFailed, reason
		log.Error("automatic rollback failed; the project needs attention", "rollback_id", rb.deploy.ID, "reason", reason)
		log.Debug("rollback failure detail", "error", d.scrub.String(err.Error()))
		_ = d.led.SetAttention(failed.Project, fmt.Sprintf("deploy %d failed its health gate and its rollback %d failed: %s", failed.ID, rb.deploy.ID, reason))
	default:
		rb.deploy.Status = forge.StatusSucceeded
		log.Info("automatic rollback succeeded", "rollback_id", rb.deploy.ID)
	}
	d.summarize(rb)
	rb.project = j.project
	var notes []ledger.OutboxEntry
	if rb.deploy.Status.Final() {
		notes = d.notifications(rb)
	}
	if uerr := d.led.Finish(rb.deploy, rb.snapshots, notes...); uerr != nil {
		log.Error("rollback outcome not recorded", "error", uerr)
	}
	d.woke()
}

// lastPassed returns the digest service ran after the newest successful
// deploy before id (newest-first hist), and that deploy.
func lastPassed(hist []forge.Deploy, service string, before uint64) (string, uint64) {
	for _, h := range hist {
		if h.ID >= before || h.Status != forge.StatusSucceeded {
			continue
		}
		if s, ok := h.Service(service); ok && s.Digest != "" {
			return s.Digest, h.ID
		}
	}
	return "", 0
}

// recordPostState fills each service's digest (the image ID of one pinned
// by image ID), whether it was recreated and why, from what the engine
// reports now; config holds the services whose configuration other than
// the image had changed.
func recordPostState(dep *forge.Deploy, before, after map[string]forge.Running, config map[string]bool) {
	for i := range dep.Services {
		sd := &dep.Services[i]
		now, was := after[sd.Service], before[sd.Service]
		sd.Digest = now.Digest
		if sd.ByImageID() {
			sd.Digest = now.ImageID
		}
		sd.Changed = now.ContainerID != was.ContainerID
		sd.ConfigHash = now.ConfigHash
		sd.Why = nil
		switch {
		case !sd.Changed:
		case was.ContainerID == "":
			sd.Why = []string{forge.WhyCreated}
		default:
			if sd.Digest != sd.Previous && sd.ByImageID() {
				sd.Why = append(sd.Why, forge.WhyImage)
			} else if sd.Digest != sd.Previous {
				sd.Why = append(sd.Why, forge.WhyDigest)
			}
			if config[sd.Service] {
				sd.Why = append(sd.Why, forge.WhyConfig)
			}
		}
	}
}

// pin returns the repo@digest reference a service is deployed with.
func (d *Dispatcher) pin(ctx context.Context, image string, w want) (string, string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", reasonBadImage, fmt.Errorf("image %q: %w", image, err)
	}
	repo := named.Name()
	if w.digest != "" && !w.confirm {
		return repo + "@" + w.digest, "", nil // a rollback, or a digest polled a moment ago
	}
	_, tag, _ := imageTag(image)
	if w.digest != "" && tag != "" {
		// The pushed digest is confirmed against what the tag points at now:
		// a push delivered late, or replayed, must not move a service back.
		got, err := d.eng.Resolve(ctx, repo+":"+tag)
		if err != nil {
			return "", d.engineReason(err, reasonConfirm), err
		}
		if got != w.digest {
			d.log.Info("tag moved on since the push; deploying what it points at now",
				"image", repo+":"+tag, "pushed", w.digest, "digest", got)
		}
		return repo + "@" + got, "", nil
	}
	if tag == "" {
		return "", reasonNoTag, fmt.Errorf("image %q has no tag", image)
	}
	got, err := d.eng.Resolve(ctx, repo+":"+tag)
	if err != nil {
		return "", d.engineReason(err, reasonResolve), err
	}
	return repo + "@" + got, "", nil
}

// withTag returns image with its tag replaced, as written (no registry host
// is added).
func withTag(image, tag string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.FamiliarName(named) + ":" + tag
}

func digestOf(pinned string) string {
	for i := len(pinned) - 1; i >= 0; i-- {
		if pinned[i] == '@' {
			return pinned[i+1:]
		}
	}
	return ""
}

// engineReason prefers "docker engine unreachable" when that is the cause,
// and says so when a swarm rolled the update back.
func (d *Dispatcher) engineReason(err error, fallback string) string {
	switch {
	case errors.Is(err, forge.ErrEngineUnavailable):
		return reasonEngine
	case errors.Is(err, forge.ErrRolledBack):
		return reasonRolledBack
	}
	return fallback
}

// setActive records which deploy of project runs, for --no-wait's answer.
func (d *Dispatcher) setActive(project string, id uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.active[project] = id
}

func (d *Dispatcher) clearActive(project string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.active, project)
}
