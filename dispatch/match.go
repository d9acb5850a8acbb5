package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/docker-forge/docker-forge"
)

// listTimeout bounds how long Submit waits for the engine's list of
// projects, and for each project's model (a stack's is read from the
// engine).
const listTimeout = 5 * time.Second

// Submit matches image events to the forge-enabled services of every known
// project and queues a deploy per project. A project whose deploy is still
// queued takes the new pushes into that deploy (newest wins per service).
func (d *Dispatcher) Submit(ctx context.Context, events []forge.Event) ([]forge.QueuedDeploy, string, error) {
	// Only projects with containers: a push must not bring back a project
	// the user took down.
	// An engine that does not answer in time (a remote one whose link hangs)
	// counts as down: it must not hold back the webhook's answer.
	listCtx, cancel := context.WithTimeout(ctx, listTimeout)
	refs, err := d.eng.Projects(listCtx)
	cancel()
	if errors.Is(err, forge.ErrEngineUnavailable) || errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
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
		git   *gitWant
		event forge.Event
	}
	var (
		hits    []*hit
		refused []string
	)
	byProject := map[string]*hit{}
	for _, ref := range refs {
		loadCtx, cancel := context.WithTimeout(ctx, listTimeout)
		p, err := d.eng.LoadProject(loadCtx, ref)
		cancel()
		if err != nil {
			d.log.Warn("project skipped: compose model does not load", "project", ref.Name)
			d.log.Debug("project load error", "project", ref.Name, "error", d.scrub.String(err.Error()))
			continue
		}
		current := d.currentTags(ref.Name)
		project := func(ev forge.Event) *hit {
			h := byProject[ref.Name]
			if h == nil {
				h = &hit{ref: p.Ref, svcs: map[string]want{}}
				byProject[ref.Name] = h
				hits = append(hits, h)
			}
			h.event = ev
			return h
		}
		for _, ev := range events {
			if ev.Kind == forge.KindGit {
				ok, why := matchGit(p, ev)
				if why != "" {
					refused = append(refused, why)
				}
				if ok && d.git == nil {
					refused = append(refused, ref.Name+": git deploys are off in this daemon")
				} else if ok {
					project(ev).git = &gitWant{commit: ev.Commit}
				}
				continue
			}
			matched, why := MatchCurrent(p, ev, current)
			refused = append(refused, why...)
			for _, m := range matched {
				// A polled digest came from the registry itself a moment ago.
				confirm := ev.Digest != "" && ev.Provider != forge.ProviderPoll
				project(ev).svcs[m.Service] = want{digest: ev.Digest, confirm: confirm, tag: m.Tag, image: withTag(imageOf(p, m.Service), m.Tag)}
			}
		}
	}
	if len(hits) == 0 {
		why := unmatchedWhy(events, refused)
		if d.notifier != nil {
			if notes := d.notifier.Unmatched(events, why); len(notes) > 0 {
				if err := d.led.Enqueue(notes); err != nil {
					d.log.Warn("unmatched push notification not queued", "error", err)
				}
				d.woke()
			}
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
		q, err := d.enqueue(h.ref, forge.Trigger{Provider: h.event.Provider, Delivery: h.event.Delivery}, func(j *job) {
			for s, w := range h.svcs {
				j.services[s] = w
			}
			if h.git != nil {
				j.git = h.git // the newest push's commit
			}
		})
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
	// Read on first use: only semver services ask, and a webhook is matched
	// against every project.
	var (
		hist   []forge.Deploy
		loaded bool
	)
	return func(service string) string {
		if !loaded {
			hist, _ = d.led.History(project, 0)
			loaded = true
		}
		return runningTag(hist, service)
	}
}

// runningTag is the tag service's newest successful deploy in hist (newest
// first) ran, "" when none did.
func runningTag(hist []forge.Deploy, service string) string {
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
		if !s.Enabled() || s.Build != nil {
			continue // a service built here is deployed by hand or by git push, never by an image push
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

// unmatchedWhy says why a push deployed nothing.
func unmatchedWhy(events []forge.Event, refused []string) string {
	var imgs, repos []string
	for _, ev := range events {
		if ev.Kind == forge.KindGit {
			repos = append(repos, ev.Repository+" "+ev.Ref)
			continue
		}
		imgs = append(imgs, ev.Image())
	}
	if len(imgs) == 0 {
		if len(refused) > 0 {
			return "not deployed: " + strings.Join(refused, "; ")
		}
		return "no compose project follows the git repository " + strings.Join(repos, ", ")
	}
	why := "no forge-enabled service uses " + strings.Join(imgs, ", ")
	if len(refused) > 0 {
		why += "; refused by policy: " + strings.Join(refused, "; ")
	}
	return why
}
