package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
)

// A swarm stack is a project too: its services are those labelled
// com.docker.stack.namespace=<name> on a swarm manager, each named as the
// stack file names it (the swarm service's name without "<name>_"). The
// dispatcher drives it through the same methods as a compose project; the
// engine reads it from the swarm's services and tasks instead of
// containers, and updates it through the service update API.

// ErrNotManager is returned for a stack operation on an engine that is not
// a swarm manager. People read it, so it names no package.
var ErrNotManager = errors.New("this engine is not a swarm manager: docker swarm init")

// managerTTL is how long the engine's answer to "is it a swarm manager?"
// is reused: an engine outside a swarm costs one info call per period, not
// one per webhook.
const managerTTL = 30 * time.Second

// labelStackImage is where docker stack deploy keeps a service's image as
// its stack file wrote it (cli/compose/convert.LabelImage).
const labelStackImage = "com.docker.stack.image"

// managerCache remembers whether the engine is a swarm manager.
type managerCache struct {
	mu      sync.Mutex
	checked time.Time
	manager bool
}

// SwarmManager reports whether the engine c talks to is a swarm manager,
// so a command can refuse a stack before it asks anything of a daemon.
func SwarmManager(ctx context.Context, c client.SystemAPIClient) (bool, error) {
	info, err := c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return false, fmt.Errorf("docker info: %w", classify(err))
	}
	return info.Info.Swarm.ControlAvailable, nil
}

// swarmManager reports whether the engine is a swarm manager, from the
// last answer unless it is older than managerTTL or fresh is asked for.
func (e *Engine) swarmManager(ctx context.Context, fresh bool) (bool, error) {
	e.swarm.mu.Lock()
	if !fresh && !e.swarm.checked.IsZero() && time.Since(e.swarm.checked) < managerTTL {
		ok := e.swarm.manager
		e.swarm.mu.Unlock()
		return ok, nil
	}
	e.swarm.mu.Unlock()
	// Asked without the lock: a hung link holds back this caller alone.
	ok, err := SwarmManager(ctx, e.cli.Client())
	if err != nil {
		return false, err
	}
	e.swarm.mu.Lock()
	e.swarm.manager, e.swarm.checked = ok, time.Now()
	e.swarm.mu.Unlock()
	return ok, nil
}

// requireManager fails with ErrNotManager unless the engine is a swarm
// manager; a cached "no" is asked again, since a stack operation follows
// a swarm init closely.
func (e *Engine) requireManager(ctx context.Context) error {
	ok, err := e.swarmManager(ctx, false)
	if err == nil && !ok {
		ok, err = e.swarmManager(ctx, true)
	}
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotManager
	}
	return nil
}

// stackOf returns the services of the stack named project, and whether the
// engine is a swarm manager running one by that name. Callers ask it only
// for a project with no compose container: a compose project's reads never
// depend on the swarm (which may be left, or never joined).
func (e *Engine) stackOf(ctx context.Context, project string) ([]swarm.Service, bool, error) {
	ok, err := e.swarmManager(ctx, false)
	if err != nil || !ok {
		return nil, false, err
	}
	svcs, err := e.stackServices(ctx, project)
	if err != nil {
		// The engine may have left the swarm since it was last asked.
		if ok, ferr := e.swarmManager(ctx, true); ferr == nil && !ok {
			return nil, false, nil
		}
	}
	return svcs, len(svcs) > 0, err
}

// stackServices lists the swarm services of a stack, by name.
func (e *Engine) stackServices(ctx context.Context, namespace string) ([]swarm.Service, error) {
	res, err := e.cli.Client().ServiceList(ctx, client.ServiceListOptions{
		Filters: make(client.Filters).Add("label", forge.StackNamespaceLabel+"="+namespace),
	})
	if err != nil {
		return nil, fmt.Errorf("list services of stack %s: %w", namespace, classify(err))
	}
	slices.SortFunc(res.Items, func(a, b swarm.Service) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	return res.Items, nil
}

// stackRefs lists the stacks on a swarm manager; none elsewhere.
func (e *Engine) stackRefs(ctx context.Context) ([]forge.ProjectRef, error) {
	ok, err := e.swarmManager(ctx, false)
	if err != nil || !ok {
		return nil, err
	}
	res, err := e.cli.Client().ServiceList(ctx, client.ServiceListOptions{
		Filters: make(client.Filters).Add("label", forge.StackNamespaceLabel),
	})
	if err != nil {
		return nil, fmt.Errorf("list stack services: %w", classify(err))
	}
	seen := map[string]bool{}
	var refs []forge.ProjectRef
	for _, s := range res.Items {
		if ns := s.Spec.Labels[forge.StackNamespaceLabel]; ns != "" && !seen[ns] {
			seen[ns] = true
			refs = append(refs, forge.ProjectRef{Name: ns, Stack: true})
		}
	}
	return refs, nil
}

// withStacks adds the engine's stacks to compose projects; a compose
// project keeps its name where both have one. The stacks of an engine
// that cannot say whether it is a manager are left out, as its compose
// projects' listing decides whether Projects fails.
func (e *Engine) withStacks(ctx context.Context, refs []forge.ProjectRef) []forge.ProjectRef {
	stacks, err := e.stackRefs(ctx)
	if err != nil {
		e.log.Debug("stacks not listed", "error", err)
		return refs
	}
	for _, s := range stacks {
		if !slices.ContainsFunc(refs, func(r forge.ProjectRef) bool { return r.Name == s.Name }) {
			refs = append(refs, s)
		}
	}
	return refs
}

// loadStack is LoadProject for a stack: read from its stack file when it
// was deployed from one (as a compose project is read from its compose
// file: what a manual deploy brings up is the file's), else from its
// services on the engine. While the engine cannot be reached, the model it
// last gave stands in, so a push for the stack waits in the queue rather
// than being dropped.
func (e *Engine) loadStack(ctx context.Context, ref forge.ProjectRef) (forge.Project, error) {
	p, err := e.readStack(ctx, ref)
	if errors.Is(err, ErrUnavailable) {
		if last, ok := e.lastStacks.Load(ref.Name); ok {
			return cloneProject(last.(forge.Project)), nil
		}
	}
	if err == nil && len(p.Services) > 0 {
		e.lastStacks.Store(ref.Name, cloneProject(p))
	}
	return p, err
}

func (e *Engine) readStack(ctx context.Context, ref forge.ProjectRef) (forge.Project, error) {
	out := forge.Project{Ref: ref}
	out.Ref.Stack = true
	if len(ref.ConfigFiles) > 0 {
		// Read once per version of the files, as compose models are: every
		// push is matched against every project.
		stamp, _ := fileStamp(ref)
		key := "stack/" + ref.Name // apart from a compose project of that name
		if p, ok := e.models.get(key, stamp); ok {
			return p, nil
		}
		cfg, _, err := loadStackFile(ref.ConfigFiles, ref.WorkingDir)
		switch {
		case err == nil:
			for _, s := range cfg.Services {
				out.Services = append(out.Services, forge.Service{Name: s.Name, Image: s.Image, Labels: mergeLabels(s.Deploy.Labels, s.Labels)})
			}
			e.models.put(key, stamp, out)
			return out, nil
		case !errors.Is(err, fs.ErrNotExist):
			return forge.Project{}, fmt.Errorf("load stack %s: %w", ref.Name, err)
		}
		// The file is gone: the stack as it runs is what there is.
		out.Ref.ConfigFiles, out.Ref.WorkingDir = nil, ""
	}
	if err := e.requireManager(ctx); err != nil {
		return forge.Project{}, fmt.Errorf("load stack %s: %w", ref.Name, err)
	}
	svcs, err := e.stackServices(ctx, ref.Name)
	if err != nil {
		return forge.Project{}, fmt.Errorf("load stack %s: %w", ref.Name, err)
	}
	if len(svcs) == 0 {
		return forge.Project{}, fmt.Errorf("load stack %s: no service of it on this engine (deploy it with -f stack.yaml -p %s --swarm)", ref.Name, ref.Name)
	}
	for _, s := range svcs {
		out.Services = append(out.Services, serviceOf(ref.Name, s))
	}
	return out, nil
}

// serviceOf is a stack's swarm service as forge decides on it.
func serviceOf(namespace string, s swarm.Service) forge.Service {
	var (
		image     string
		container map[string]string
	)
	if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil {
		image, container = cs.Image, cs.Labels
	}
	return forge.Service{
		Name:   shortName(namespace, s.Spec.Name),
		Image:  followedImage(image, s.Spec.Labels[labelStackImage]),
		Labels: mergeLabels(s.Spec.Labels, container),
	}
}

// shortName is a stack service's name as its stack file writes it.
func shortName(namespace, name string) string {
	return strings.TrimPrefix(name, namespace+"_")
}

// mergeLabels merges a stack service's own labels (the stack file's
// deploy.labels) with its containers' (labels:), so forge.* labels may be
// in either; the service's win where both set one.
func mergeLabels(service, container map[string]string) map[string]string {
	out := make(map[string]string, len(service)+len(container))
	maps.Copy(out, container)
	maps.Copy(out, service)
	return out
}

// withoutDigest is an image reference as written, without its @digest:
// repo:tag@sha256:… reads repo:tag.
func withoutDigest(image string) string {
	name, _, _ := strings.Cut(image, "@")
	return name
}

// followedImage is the image (repo:tag) a service's pushes are matched
// against: its spec's without the digest, or, when the spec names no tag
// (pinned by digest alone), the stack file's image of the same repository.
func followedImage(spec, file string) string {
	img := withoutDigest(spec)
	named, err := reference.ParseNormalizedNamed(img)
	if err != nil {
		return img
	}
	if _, tagged := named.(reference.Tagged); tagged || file == "" {
		return img
	}
	f, err := reference.ParseNormalizedNamed(file)
	if _, tagged := f.(reference.Tagged); err == nil && tagged && f.Name() == named.Name() {
		return withoutDigest(file)
	}
	return img
}

// digestIn returns the digest an image reference pins, "" when none.
func digestIn(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return ""
	}
	if d, ok := named.(reference.Digested); ok {
		return d.Digest().String()
	}
	return ""
}

// pinnedImage is the image a service is updated to for pin (repo@digest):
// repo:tag@digest with the tag the service's image has now, as docker
// stack deploy writes it, when it is of the same repository; else the pin.
func pinnedImage(current, pin string) (string, error) {
	p, err := reference.ParseNormalizedNamed(pin)
	if err != nil {
		return "", fmt.Errorf("pin %q: %w", pin, err)
	}
	d, ok := p.(reference.Digested)
	if !ok {
		return "", fmt.Errorf("pin %q has no digest", pin)
	}
	name := reference.TrimNamed(p)
	if c, err := reference.ParseNormalizedNamed(withoutDigest(current)); err == nil && c.Name() == name.Name() {
		if t, ok := c.(reference.Tagged); ok {
			tagged, err := reference.WithTag(name, t.Tag())
			if err == nil {
				name = tagged
			}
		}
	} else if t, ok := p.(reference.Tagged); ok {
		if tagged, err := reference.WithTag(name, t.Tag()); err == nil {
			name = tagged
		}
	}
	out, err := reference.WithDigest(name, d.Digest())
	if err != nil {
		return "", fmt.Errorf("pin %q: %w", pin, err)
	}
	return reference.FamiliarString(out), nil
}

// atPin reports whether a service's image is already pin: the same
// repository at the same digest.
func atPin(current, pin string) bool {
	c, err1 := reference.ParseNormalizedNamed(current)
	p, err2 := reference.ParseNormalizedNamed(pin)
	if err1 != nil || err2 != nil {
		return false
	}
	return c.Name() == p.Name() && digestIn(current) != "" && digestIn(current) == digestIn(pin)
}

// stackTasks lists the tasks of a stack's services, by service ID.
func (e *Engine) stackTasks(ctx context.Context, svcs []swarm.Service) (map[string][]swarm.Task, error) {
	ids := make([]string, 0, len(svcs))
	for _, s := range svcs {
		ids = append(ids, s.ID)
	}
	res, err := e.cli.Client().TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", ids...)})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", classify(err))
	}
	out := map[string][]swarm.Task{}
	for _, t := range res.Items {
		out[t.ServiceID] = append(out[t.ServiceID], t)
	}
	return out, nil
}

// stackRunning is Running for a stack: per service, what its tasks run.
func (e *Engine) stackRunning(ctx context.Context, project string, svcs []swarm.Service) (map[string]forge.Running, error) {
	tasks, err := e.stackTasks(ctx, svcs)
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", project, err)
	}
	out := map[string]forge.Running{}
	for _, s := range svcs {
		if r, ok := runningOf(s, tasks[s.ID]); ok {
			r.Service = shortName(project, s.Spec.Name)
			out[r.Service] = r
		}
	}
	return out, nil
}

// stackHealth is Health for a stack: per service, from its tasks.
func (e *Engine) stackHealth(ctx context.Context, project string, svcs []swarm.Service) (map[string]forge.Health, error) {
	tasks, err := e.stackTasks(ctx, svcs)
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", project, err)
	}
	out := map[string]forge.Health{}
	for _, s := range svcs {
		out[shortName(project, s.Spec.Name)] = healthOf(s, tasks[s.ID])
	}
	return out, nil
}
