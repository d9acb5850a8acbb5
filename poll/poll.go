// Package poll is docker-forge's fallback for registries that send no
// notifications, or lose them under load: services labelled forge.poll get a
// robfig/cron schedule that asks the registry, with a HEAD request only, what
// digest their tag points at, and turns a change into the same event a
// webhook would have given.
package poll

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/distribution/reference"
	"github.com/robfig/cron/v3"

	"github.com/docker-forge/docker-forge"
)

// Projects is the part of the engine the poller reads, so tests can pass a
// fake.
type Projects interface {
	Projects(ctx context.Context) ([]forge.ProjectRef, error)
	LoadProject(ctx context.Context, ref forge.ProjectRef) (forge.Project, error)
	Running(ctx context.Context, project string) (map[string]forge.Running, error)
}

// Registry answers what digest a tag points at, with a HEAD request.
type Registry interface {
	Head(ctx context.Context, image string) (string, error)
}

// Dispatcher takes the events polling finds, as it takes webhooks'.
type Dispatcher interface {
	Submit(ctx context.Context, events []forge.Event) ([]forge.QueuedDeploy, string, error)
}

// DefaultRefresh is how often the poller re-reads which services to poll.
const DefaultRefresh = "@every 15s"

// Config configures a Poller.
type Config struct {
	Projects   Projects
	Registry   Registry
	Dispatcher Dispatcher
	Logger     *slog.Logger
	// Refresh is the cron spec for re-reading labels; "" means DefaultRefresh.
	Refresh string
}

// Poller keeps one cron entry per polled service.
type Poller struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	entries map[string]entry  // project/service -> its cron entry
	last    map[string]string // project/service -> the digest last submitted
	bad     map[string]bool   // project/service/spec already reported invalid
}

type entry struct {
	id    cron.EntryID
	spec  string
	image string
}

// New returns a Poller; Run starts it.
func New(cfg Config) *Poller {
	if cfg.Refresh == "" {
		cfg.Refresh = DefaultRefresh
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Poller{
		cfg: cfg, log: log.With("component", "poll"),
		entries: map[string]entry{}, last: map[string]string{}, bad: map[string]bool{},
	}
}

// Run polls until ctx ends. Runs of one service never overlap, and a panic
// in one is logged, not fatal.
func (p *Poller) Run(ctx context.Context) error {
	c := cron.New(cron.WithChain(cron.SkipIfStillRunning(forge.CronLog{Log: p.log}), cron.Recover(forge.CronLog{Log: p.log})))
	if _, err := c.AddFunc(p.cfg.Refresh, func() { p.Sync(ctx, c) }); err != nil {
		return fmt.Errorf("poll: refresh schedule %q: %w", p.cfg.Refresh, err)
	}
	p.Sync(ctx, c)
	c.Start()
	<-ctx.Done()
	<-c.Stop().Done()
	return nil
}

// Sync makes c's entries match the forge.poll labels of the services now.
func (p *Poller) Sync(ctx context.Context, c *cron.Cron) {
	refs, err := p.cfg.Projects.Projects(ctx)
	if err != nil {
		p.log.Warn("poll: cannot list projects", "error", err)
		return // keep the entries we have
	}
	want := map[string]entry{}
	targets := map[string]target{}
	for _, ref := range refs {
		proj, err := p.cfg.Projects.LoadProject(ctx, ref)
		if err != nil {
			continue // the dispatcher reports broken compose files
		}
		for _, s := range proj.Services {
			spec := s.Labels[forge.LabelPoll]
			if spec == "" || !s.Enabled() || s.Build != nil {
				continue
			}
			key := proj.Ref.Name + "/" + s.Name
			want[key] = entry{spec: spec, image: s.Image}
			targets[key] = target{project: proj.Ref.Name, service: s.Name, image: s.Image}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, e := range p.entries {
		if w, ok := want[key]; !ok || w.spec != e.spec || w.image != e.image {
			c.Remove(e.id)
			delete(p.entries, key)
		}
	}
	for key, w := range want {
		if _, ok := p.entries[key]; ok {
			continue
		}
		t := targets[key]
		id, err := c.AddFunc(w.spec, func() { p.Check(ctx, t) })
		if err != nil {
			if bad := key + "|" + w.spec; !p.bad[bad] {
				p.bad[bad] = true
				p.log.Warn("poll: bad forge.poll schedule", "project", t.project, "service", t.service, "schedule", w.spec, "error", err)
			}
			continue
		}
		w.id = id
		p.entries[key] = w
		p.log.Info("polling", "project", t.project, "service", t.service, "image", t.image, "schedule", w.spec)
	}
}

// Polled returns the services being polled, as project/service.
func (p *Poller) Polled() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.entries))
	for k := range p.entries {
		out = append(out, k)
	}
	return out
}

// target is one polled service.
type target struct {
	project, service, image string
}

// Check asks the registry for the service's tag and submits an event when it
// points at a digest the service does not run and that was not submitted
// already (a deploy that keeps failing is not retried on every tick).
func (p *Poller) Check(ctx context.Context, t target) {
	key := t.project + "/" + t.service
	log := p.log.With("project", t.project, "service", t.service, "image", t.image)
	named, err := reference.ParseNormalizedNamed(t.image)
	if err != nil {
		return
	}
	named = reference.TagNameOnly(named)
	tagged, ok := named.(reference.Tagged)
	if !ok {
		return
	}
	digest, err := p.cfg.Registry.Head(ctx, t.image)
	if err != nil {
		log.Warn("poll: registry check failed", "error", err)
		return
	}
	running, err := p.cfg.Projects.Running(ctx, t.project)
	if err != nil {
		log.Warn("poll: cannot read running containers", "error", err)
		return
	}
	p.mu.Lock()
	last := p.last[key]
	p.mu.Unlock()
	if digest == running[t.service].Digest || digest == last {
		return
	}
	ev := forge.Event{
		Kind: forge.KindImage, Provider: forge.ProviderPoll,
		Repository: named.Name(), Tag: tagged.Tag(), Digest: digest,
		Delivery: "poll:" + digest,
	}
	queued, ignored, err := p.cfg.Dispatcher.Submit(ctx, []forge.Event{ev})
	if err != nil {
		log.Warn("poll: new digest not queued; next tick retries", "digest", digest, "error", err)
		return
	}
	p.mu.Lock()
	p.last[key] = digest
	p.mu.Unlock()
	log.Info("poll: tag moved", "digest", digest, "queued", len(queued), "ignored", ignored)
}
