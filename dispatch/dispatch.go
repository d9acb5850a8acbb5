// Package dispatch turns events into deploys: it finds the compose services
// an image push concerns, pins each to the exact digest, brings them up one
// deploy at a time per project, reads back what the containers run, and
// records every deploy in the ledger. Bursts of pushes for the same project
// coalesce while a deploy waits, so the newest push wins.
package dispatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

// Engine is the part of the Docker engine the dispatcher drives, so tests can
// pass a fake; engine.Engine is the real one.
type Engine interface {
	// Projects lists the compose projects that have containers.
	Projects(ctx context.Context) ([]forge.ProjectRef, error)
	// LoadProject loads a project's compose model.
	LoadProject(ctx context.Context, ref forge.ProjectRef) (forge.Project, error)
	// Resolve returns the registry digest of repo:tag, or confirms repo@digest.
	Resolve(ctx context.Context, image string) (string, error)
	// Running reports what each service's container runs now.
	Running(ctx context.Context, project string) (map[string]forge.Running, error)
	// Up brings the pinned services (service -> repo@digest) up.
	Up(ctx context.Context, ref forge.ProjectRef, pins map[string]string, whole bool) error
	// Health reads what the health gate needs of each service's container.
	Health(ctx context.Context, project string) (map[string]forge.Health, error)
}

// Config configures a Dispatcher.
type Config struct {
	Engine Engine
	Ledger *ledger.Ledger
	Logger *slog.Logger
	// Secrets are scrubbed from every error detail that reaches the log.
	Secrets []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// StopGrace is how long Run lets a running deploy finish once its
	// context ends, before cancelling it; 0 means 30 seconds.
	StopGrace time.Duration
	// MaxQueued bounds how many projects may wait for a deploy at once;
	// 0 means 1024. Pushes for a project already waiting always join it.
	MaxQueued int
	// HealthTimeout and Settle are the health gate's defaults
	// (forge.health-timeout and forge.settle override them per service);
	// 0 means DefaultHealthTimeout and DefaultSettle.
	HealthTimeout, Settle time.Duration
}

// Dispatcher queues and runs deploys. Create it with New, then call Recover
// once and Run for the daemon's lifetime; Deploy and Rollback run
// synchronously and work without Run (the CLI uses them that way).
type Dispatcher struct {
	eng                   Engine
	led                   *ledger.Ledger
	log                   *slog.Logger
	scrub                 *scrubber
	now                   func() time.Time
	grace                 time.Duration
	maxQueued             int
	healthTimeout, settle time.Duration

	mu       sync.Mutex
	pending  map[string]*job          // project -> the queued deploy not started yet
	creating map[string]*job          // project -> a queued deploy whose record is being written
	backoff  map[string]time.Duration // project -> wait before retrying after an engine outage
	workers  map[string]bool          // project -> a worker drains its queue
	locks    map[string]*sync.Mutex
	ready    []string      // projects whose pending deploy wants a worker
	wake     chan struct{} // signals Run that ready is not empty
}

// want is what a deploy asks of one service.
type want struct {
	// digest to deploy; empty means resolve the service's tag.
	digest string
	// confirm asks the registry to confirm digest before acting.
	confirm bool
	// tag moves the service to another tag than its compose file's (semver
	// and glob policies); empty means the compose file's tag.
	tag string
	// image is the service's image with that tag, as recorded while queued.
	image string
}

// job is one deploy waiting for its project's turn.
type job struct {
	deploy   forge.Deploy
	ref      forge.ProjectRef
	services map[string]want
	// explicit marks services named by the user: they need not be forge-enabled.
	explicit bool
	// recovered marks a deploy converging again after a crash: its project
	// ran before, even if the crash left a service without a container.
	recovered bool
	// rev counts the pushes that joined the deploy while queued; created is
	// closed once its ledger record exists (createErr says if it failed).
	rev       uint64
	created   chan struct{}
	createErr error
}

// New returns a Dispatcher; it starts nothing.
func New(cfg Config) *Dispatcher {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Dispatcher{
		eng:           cfg.Engine,
		led:           cfg.Ledger,
		log:           log.With("component", "dispatch"),
		scrub:         newScrubber(cfg.Secrets),
		now:           now,
		grace:         cmp.Or(cfg.StopGrace, 30*time.Second),
		maxQueued:     cmp.Or(cfg.MaxQueued, 1024),
		healthTimeout: cmp.Or(cfg.HealthTimeout, DefaultHealthTimeout),
		settle:        cmp.Or(cfg.Settle, DefaultSettle),
		pending:       map[string]*job{},
		creating:      map[string]*job{},
		backoff:       map[string]time.Duration{},
		workers:       map[string]bool{},
		locks:         map[string]*sync.Mutex{},
		wake:          make(chan struct{}, 1),
	}
}

// Generic failure reasons: what the ledger and the API show. The detail goes
// to the log, scrubbed.
const (
	reasonLoad       = "compose project could not be loaded"
	reasonEngine     = "docker engine unreachable"
	reasonRunning    = "could not read the project's containers"
	reasonResolve    = "image tag could not be resolved in the registry"
	reasonConfirm    = "pushed digest could not be confirmed with the registry"
	reasonUp         = "compose up failed; see the daemon log"
	reasonVerify     = "containers do not run the deployed digest"
	reasonNoService  = "service not found in the compose project"
	reasonInterrupt  = "daemon stopped before the deploy finished"
	reasonNoTag      = "service image has no tag to follow"
	reasonBadImage   = "service image reference is invalid"
	reasonNotEnabled = "service is not forge-enabled"
	reasonNotRunning = "project is not running; a push does not start it"
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
		if len(dep.Services) == 0 {
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
		w := want{digest: s.Requested, image: s.Image}
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
		old.deploy.Services = servicesOf(old.services)
		return d.led.Update(old.deploy)
	}
	if old := d.pending[dep.Project]; old != nil {
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
	}
	j := &job{deploy: dep, ref: ref, services: svcs, explicit: dep.Reason != forge.ReasonPush, recovered: recovered}
	j.deploy.Services = j.deploy.Services[:0]
	for _, name := range sortedKeys(svcs) {
		j.deploy.Services = append(j.deploy.Services, forge.ServiceDeploy{Service: name, Image: svcs[name].image, Requested: svcs[name].digest})
	}
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

// schedule makes j its project's pending deploy and wakes Run. d.mu is held.
func (d *Dispatcher) schedule(j *job) {
	d.pending[j.deploy.Project] = j
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
		j := d.pending[project]
		delete(d.pending, project)
		if j == nil {
			d.workers[project] = false
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		if err := d.execute(work, j); errors.Is(err, errEngineDown) {
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
}

// absorb moves j's targets (newer) into older, a queued deploy of the same
// project, records both, and marks j done. d.mu is held.
func (d *Dispatcher) absorb(older, j *job) error {
	for name, w := range j.services {
		older.services[name] = w
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
		out = append(out, forge.ServiceDeploy{Service: name, Image: svcs[name].image, Requested: svcs[name].digest})
	}
	return out
}

func (d *Dispatcher) projectLock(project string) *sync.Mutex {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.locks[project]
	if l == nil {
		l = &sync.Mutex{}
		d.locks[project] = l
	}
	return l
}

// Submit matches image events to the forge-enabled services of every known
// project and queues a deploy per project. A project whose deploy is still
// queued takes the new pushes into that deploy (newest wins per service).
func (d *Dispatcher) Submit(ctx context.Context, events []forge.Event) ([]forge.QueuedDeploy, string, error) {
	// Only projects with containers: a push must not bring back a project
	// the user took down.
	refs, err := d.eng.Projects(ctx)
	if errors.Is(err, forge.ErrEngineUnavailable) {
		// The engine is down: match against the projects forge deployed
		// before, and let the deploys wait in the queue until it is back
		// (one whose project turns out not to run then does nothing).
		refs, err = d.led.Projects()
	}
	if err != nil {
		return nil, "", fmt.Errorf("discover projects: %w", err)
	}
	type hit struct {
		ref   forge.ProjectRef
		svcs  map[string]want
		event forge.Event
	}
	var (
		hits    []*hit
		refused []string
	)
	byProject := map[string]*hit{}
	for _, ref := range refs {
		p, err := d.eng.LoadProject(ctx, ref)
		if err != nil {
			d.log.Warn("project skipped: compose model does not load", "project", ref.Name)
			d.log.Debug("project load error", "project", ref.Name, "error", d.scrub.String(err.Error()))
			continue
		}
		current := d.currentTags(ref.Name)
		for _, ev := range events {
			matched, why := MatchCurrent(p, ev, current)
			refused = append(refused, why...)
			for _, m := range matched {
				h := byProject[ref.Name]
				if h == nil {
					h = &hit{ref: p.Ref, svcs: map[string]want{}}
					byProject[ref.Name] = h
					hits = append(hits, h)
				}
				// A polled digest came from the registry itself a moment ago.
				confirm := ev.Digest != "" && ev.Provider != forge.ProviderPoll
				h.svcs[m.Service] = want{digest: ev.Digest, confirm: confirm, tag: m.Tag, image: withTag(imageOf(p, m.Service), m.Tag)}
				h.event = ev
			}
		}
	}
	if len(hits) == 0 {
		var imgs, repos []string
		for _, ev := range events {
			if ev.Kind == forge.KindGit {
				repos = append(repos, ev.Repository+" "+ev.Ref)
				continue
			}
			imgs = append(imgs, ev.Image())
		}
		if len(imgs) == 0 {
			return nil, "no compose project follows the git repository " + strings.Join(repos, ", "), nil
		}
		why := "no forge-enabled service uses " + strings.Join(imgs, ", ")
		if len(refused) > 0 {
			why += "; refused by policy: " + strings.Join(refused, "; ")
		}
		return nil, why, nil
	}
	// Room for every project first: a delivery is queued whole or not at
	// all, so the sender's retry of a 503 cannot queue a project twice.
	d.mu.Lock()
	fresh := 0
	for _, h := range hits {
		if d.pending[h.ref.Name] == nil && d.creating[h.ref.Name] == nil {
			fresh++
		}
	}
	full := len(d.pending)+len(d.creating)+fresh > d.maxQueued
	d.mu.Unlock()
	if full {
		return nil, "", ErrQueueFull
	}
	var queued []forge.QueuedDeploy
	for _, h := range hits {
		q, err := d.enqueue(h.ref, h.svcs, forge.Trigger{Provider: h.event.Provider, Delivery: h.event.Delivery})
		if err != nil {
			return queued, "", err
		}
		queued = append(queued, q)
	}
	return queued, "", nil
}

// currentTags returns, per service of a project, the tag its last successful
// deploy ran, so a semver policy compares with what runs, not with the
// compose file.
func (d *Dispatcher) currentTags(project string) func(string) string {
	hist, err := d.led.History(project, 0)
	if err != nil {
		return nil
	}
	return func(service string) string {
		for _, h := range hist {
			if h.Status != forge.StatusSucceeded {
				continue
			}
			if s, ok := h.Service(service); ok && s.Image != "" {
				_, tag, _ := imageTag(s.Image)
				return tag
			}
		}
		return ""
	}
}

// KnownProjects is every project with containers, plus those forge deployed
// before (their containers may be down).
func (d *Dispatcher) KnownProjects(ctx context.Context) ([]forge.ProjectRef, error) {
	refs, err := d.eng.Projects(ctx)
	if err != nil {
		return nil, fmt.Errorf("discover projects: %w", err)
	}
	saved, err := d.led.Projects()
	if err != nil {
		return nil, fmt.Errorf("discover projects: %w", err)
	}
	return MergeProjects(refs, saved), nil
}

// MergeProjects adds to running the saved projects it lacks: a running
// project's reference, read from its containers, wins.
func MergeProjects(running, saved []forge.ProjectRef) []forge.ProjectRef {
	seen := map[string]bool{}
	for _, r := range running {
		seen[r.Name] = true
	}
	for _, r := range saved {
		if !seen[r.Name] {
			running = append(running, r)
		}
	}
	return running
}

// Match returns the forge-enabled services of p that an image event
// concerns, each service judged by its update policy against the tag in its
// compose file. MatchCurrent does the same against the tags services run now.
func Match(p forge.Project, ev forge.Event) []string {
	hits, _ := MatchCurrent(p, ev, nil)
	out := make([]string, 0, len(hits))
	for _, h := range hits {
		out = append(out, h.Service)
	}
	return out
}

// MatchCurrent returns the hits of an image event in p, and for services
// that use the pushed repository but whose policy refused the push, why.
// current, when not nil, gives the tag a service runs now (its last deploy
// may have moved it past its compose file's tag); "" means the compose tag.
func MatchCurrent(p forge.Project, ev forge.Event, current func(service string) string) ([]Hit, []string) {
	if ev.Kind != forge.KindImage {
		return nil, nil
	}
	var (
		hits    []Hit
		refused []string
	)
	for _, s := range p.Services {
		if !s.Enabled() {
			continue
		}
		name, tag, err := imageTag(s.Image)
		if err != nil || tag == "" || pinnedByDigest(s.Image) {
			continue // a digest written in the compose file is the user's pin
		}
		if name != ev.Repository {
			continue
		}
		if current != nil && strings.HasPrefix(s.Policy(), "semver:") {
			// A semver service may run a newer version than its compose
			// file names; the digest and glob policies follow the file.
			if t := current(s.Name); t != "" && newerVersion(t, tag) {
				tag = t
			}
		}
		ok, why := Decide(s.Policy(), tag, ev.Tag)
		if ok {
			hits = append(hits, Hit{Service: s.Name, Tag: ev.Tag})
			continue
		}
		refused = append(refused, fmt.Sprintf("%s/%s (%s): %s", p.Ref.Name, s.Name, s.Policy(), why))
	}
	return hits, refused
}

// imageTag splits an image reference into its normalized repository and tag
// ("latest" when the reference names neither tag nor digest).
func imageTag(image string) (name, tag string, err error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", "", err
	}
	if t, ok := named.(reference.Tagged); ok {
		return named.Name(), t.Tag(), nil
	}
	if _, ok := named.(reference.Digested); ok {
		return named.Name(), "", nil
	}
	return named.Name(), "latest", nil
}

func imageOf(p forge.Project, service string) string {
	for _, s := range p.Services {
		if s.Name == service {
			return s.Image
		}
	}
	return ""
}

func pinnedByDigest(image string) bool {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return false
	}
	_, ok := named.(reference.Digested)
	return ok
}

func (d *Dispatcher) enqueue(ref forge.ProjectRef, svcs map[string]want, trig forge.Trigger) (forge.QueuedDeploy, error) {
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
	for s, w := range svcs {
		j.services[s] = w
	}
	j.deploy.Services = servicesOf(j.services)
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
		return forge.QueuedDeploy{ID: snap.ID, Project: ref.Name, Services: services, Status: forge.StatusQueued}, nil
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
	return forge.QueuedDeploy{ID: id, Project: ref.Name, Services: services, Status: forge.StatusQueued}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Failure is a deploy that did not succeed. Its message is the generic reason
// stored in the ledger, safe to show.
type Failure struct {
	Deploy forge.Deploy
}

func (f *Failure) Error() string {
	return fmt.Sprintf("deploy %d of %s failed: %s", f.Deploy.ID, f.Deploy.Project, f.Deploy.Error)
}

// ErrQueueFull is returned by Submit when as many projects wait for a
// deploy as the queue holds; the webhook answers 503 with Retry-After.
var ErrQueueFull = errors.New("dispatch: deploy queue full")

// errEngineDown marks a deploy that could not run because the Docker engine
// is unreachable: it stays queued and is retried.
var errEngineDown = errors.New("dispatch: docker engine unreachable; deploy stays queued")

// ErrNothingToRollBack is returned when no earlier successful deploy exists.
var ErrNothingToRollBack = errors.New("dispatch: no earlier successful deploy to roll back to")
