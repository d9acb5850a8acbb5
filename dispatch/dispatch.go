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
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/gitsrc"
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
	// Up brings the pinned services (service -> repo@digest or local image
	// ID) up as compose up -d would, restored ones to their snapshot's
	// configuration, and says which had another configuration than their
	// container, with each one's snapshot.
	Up(ctx context.Context, req forge.UpRequest) (forge.UpResult, error)
	// RunningSnapshots reads what each service's container was created
	// with, as a snapshot; secret says which fields to mask.
	RunningSnapshots(ctx context.Context, project string, secret func(service, field string) bool) (map[string][]byte, error)
	// Health reads what the health gate needs of each service's container.
	Health(ctx context.Context, project string) (map[string]forge.Health, error)
	// Build builds services (service -> tag) of a git checkout and returns
	// their image IDs.
	Build(ctx context.Context, ref forge.ProjectRef, tags map[string]string) (map[string]string, error)
	// ImageID returns a local image's ID, "" when there is none.
	ImageID(ctx context.Context, ref string) (string, error)
	// LocalImage returns a local image's ID ("" when there is none) and
	// whether a registry copy of it is known (it was pulled or pushed).
	LocalImage(ctx context.Context, ref string) (id string, registry bool, err error)
	// RemoveImage removes a local image that no container uses.
	RemoveImage(ctx context.Context, ref string) error
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
	// Registerer receives the deploy metrics (forge_deploys_total,
	// forge_deploy_duration_seconds); nil means none are registered.
	Registerer prometheus.Registerer
	// Git keeps the checkouts of projects whose compose file declares an
	// x-forge repository; nil turns git deploys off.
	Git Git
	// GitCredentials returns the credentials for a repository URL; nil
	// means none (public repositories).
	GitCredentials func(repository string) gitsrc.Credentials
	// Notifier tells people of deploys; nil tells no one.
	Notifier Notifier
	// KeepImages is how many successful git deploys per project keep the
	// images forge built for them; older ones are removed (a rollback to
	// them builds again). 0 means DefaultKeepImages.
	KeepImages int
}

// Notifier makes the outbox entries of what a deploy did, so the dispatcher
// writes them with the deploy's final record (a crash cannot keep one and
// lose the other); the daemon passes notify's. Wake says the outbox has new
// entries.
type Notifier interface {
	Notifications(d forge.Deploy, p forge.Project) []ledger.OutboxEntry
	Unmatched(events []forge.Event, why string) []ledger.OutboxEntry
	Wake()
}

// DefaultKeepImages is Config.KeepImages' default.
const DefaultKeepImages = 5

// Dispatcher queues and runs deploys. Create it with New, then call Recover
// once and Run for the daemon's lifetime; Deploy and Rollback run
// synchronously and work without Run (the CLI uses them that way).
type Dispatcher struct {
	eng                   Engine
	led                   recorder
	log                   *slog.Logger
	scrub                 *scrubber
	now                   func() time.Time
	grace                 time.Duration
	maxQueued             int
	healthTimeout, settle time.Duration
	git                   Git
	gitCredentials        func(string) gitsrc.Credentials
	keepImages            int
	notifier              Notifier

	mu       sync.Mutex
	pending  map[string]*job          // project -> the queued deploy that pushes still join
	sealed   map[string][]*job        // project -> queued deploys a manual one lined up behind
	creating map[string]*job          // project -> a queued deploy whose record is being written
	backoff  map[string]time.Duration // project -> wait before retrying after an engine outage
	workers  map[string]bool          // project -> a worker drains its queue
	lines    map[string][]*turn       // project -> deploys in the order they run
	active   map[string]uint64        // project -> the deploy running (0 before it is recorded)
	ready    []string                 // projects whose pending deploy wants a worker
	wake     chan struct{}            // signals Run that ready is not empty
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
	// local marks digest as a local image ID (a rollback to a local image).
	local bool
	// snapshot is the configuration a rollback restores the service to;
	// empty keeps the compose file's.
	snapshot string
}

// job is one deploy waiting for its project's turn.
type job struct {
	deploy   forge.Deploy
	ref      forge.ProjectRef
	services map[string]want
	// git, when set, deploys a git-sourced project at a commit.
	git *gitWant
	// explicit marks services named by the user: they need not be forge-enabled.
	explicit bool
	// recovered marks a deploy converging again after a crash: its project
	// ran before, even if the crash left a service without a container.
	recovered bool
	// build builds the services with a build: section first (deploy
	// --build), as compose up --build does; without, only those whose image
	// is missing are built.
	build bool
	// turn is the deploy's place in its project's line.
	turn *turn
	// snapshots are the configurations the deploy brought up, by id: they
	// go to the ledger with its final record.
	snapshots map[string][]byte
	// project is the compose model the deploy ran against (its
	// notification channels and filters); empty before it is loaded.
	project forge.Project
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
		eng:            cfg.Engine,
		led:            recorder{Ledger: cfg.Ledger, m: newDeployMetrics(cfg.Registerer)},
		log:            log.With("component", "dispatch"),
		scrub:          newScrubber(cfg.Secrets),
		now:            now,
		grace:          cmp.Or(cfg.StopGrace, 30*time.Second),
		maxQueued:      cmp.Or(cfg.MaxQueued, 1024),
		healthTimeout:  cmp.Or(cfg.HealthTimeout, DefaultHealthTimeout),
		settle:         cmp.Or(cfg.Settle, DefaultSettle),
		git:            cfg.Git,
		gitCredentials: cfg.GitCredentials,
		keepImages:     cmp.Or(cfg.KeepImages, DefaultKeepImages),
		notifier:       cfg.Notifier,
		pending:        map[string]*job{},
		sealed:         map[string][]*job{},
		creating:       map[string]*job{},
		backoff:        map[string]time.Duration{},
		workers:        map[string]bool{},
		lines:          map[string][]*turn{},
		active:         map[string]uint64{},
		wake:           make(chan struct{}, 1),
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
	// reasonRolledBack is a swarm update that the service's update_config
	// (failure_action: rollback) undid: what runs is what ran before.
	reasonRolledBack = "the swarm rolled the update back"
)

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
// Its text is read by people (`docker forge rollback`), so it names no
// package.
var ErrNothingToRollBack = errors.New("no earlier successful deploy to roll back to")
