// Package engine is the only part of docker-forge that talks to Docker: it
// loads compose projects with compose-go (through the compose SDK's loader),
// brings services up with the compose v5 SDK, and reads containers, images
// and registry digests with the moby client. Credentials come from the
// user's Docker config, credential helpers included, the way the docker CLI
// finds them.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/cli/cli/command"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/registry"
	"github.com/docker-forge/docker-forge/snapshot"
)

// ErrUnavailable marks errors caused by a Docker engine that cannot be
// reached; it is forge.ErrEngineUnavailable.
var ErrUnavailable = forge.ErrEngineUnavailable

// Engine drives one Docker engine through the docker CLI's configuration.
type Engine struct {
	cli       command.Cli
	compose   api.Compose
	log       *slog.Logger
	models    modelCache
	index     projectIndex
	hostMem   atomic.Uint64
	hostMemMu sync.Mutex
	masker    *snapshot.Masker
	// heads asks registries for digests straight (2–4 ms), before the
	// engine's distribution endpoint (10–35 ms) is asked; headless holds
	// the registry hosts it could not reach lately (host -> until when
	// they are left to the engine).
	heads    *registry.Client
	headless sync.Map
	// swarm caches whether the engine is a swarm manager (see swarm.go),
	// lastStacks each stack's model as last read (name -> forge.Project).
	swarm      managerCache
	lastStacks sync.Map
}

// headRetry is how long a registry forge could not reach itself is left
// to the engine (a proxy or mirror only dockerd knows) before forge tries
// again.
const headRetry = 10 * time.Minute

// New returns an Engine on an initialized docker CLI.
func New(cli command.Cli, log *slog.Logger, opts ...Option) (*Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "engine")
	svc, err := compose.NewComposeService(cli,
		compose.WithStreams(io.Discard, io.Discard, strings.NewReader("")),
		compose.WithEventProcessor(progressLog{log: log}),
		compose.WithPrompt(func(msg string, def bool) (bool, error) {
			log.Warn("compose asked a question; answering with its default", "question", msg, "answer", def)
			return def, nil
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("engine: compose service: %w", err)
	}
	e := &Engine{cli: cli, compose: svc, log: log}
	e.heads = &registry.Client{Creds: e.RegistryCredentials, HTTP: &http.Client{Timeout: 3 * time.Second}}
	for _, o := range opts {
		o(e)
	}
	return e, nil
}

// classify wraps errors that mean the daemon is down with ErrUnavailable.
func classify(err error) error {
	if err != nil && client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// Ping checks that the engine answers.
func (e *Engine) Ping(ctx context.Context) error {
	if _, err := e.cli.Client().Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("ping docker engine: %w", classify(err))
	}
	return nil
}

// Projects lists the compose projects that have containers on this engine,
// with where their compose model lives, read from the containers' labels.
// While Watch runs, the answer comes from the event-fed index.
func (e *Engine) Projects(ctx context.Context) ([]forge.ProjectRef, error) {
	refs, ok := e.index.snapshot()
	if !ok {
		containers, err := e.listComposeContainers(ctx)
		if err != nil {
			return nil, err
		}
		byName := map[string]forge.ProjectRef{}
		for _, labels := range containers {
			if ref, ok := refFromLabels(labels); ok {
				byName[ref.Name] = ref
			}
		}
		for _, r := range byName {
			refs = append(refs, r)
		}
	}
	refs = e.withStacks(ctx, refs)
	sort.Slice(refs, func(i, j int) bool { return refs[i].Name < refs[j].Name })
	return refs, nil
}

// listComposeContainers returns the labels of every container that carries
// a compose project label, by container id.
func (e *Engine) listComposeContainers(ctx context.Context) (map[string]map[string]string, error) {
	res, err := e.cli.Client().ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", forge.ComposeProjectLabel),
	})
	if err != nil {
		return nil, fmt.Errorf("list compose containers: %w", classify(err))
	}
	out := make(map[string]map[string]string, len(res.Items))
	for _, c := range res.Items {
		out[c.ID] = c.Labels
	}
	return out, nil
}

// refFromLabels reads a project reference from a compose container's labels.
func refFromLabels(labels map[string]string) (forge.ProjectRef, bool) {
	name := labels[forge.ComposeProjectLabel]
	if name == "" || labels[forge.ComposeOneoffLabel] == "True" {
		return forge.ProjectRef{}, false
	}
	return forge.ProjectRef{
		Name:        name,
		WorkingDir:  labels[forge.ComposeWorkingDirLabel],
		ConfigFiles: splitList(labels[forge.ComposeConfigFilesLabel]),
		EnvFiles:    splitList(labels[forge.ComposeEnvFileLabel]),
	}, true
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// load reads a project's compose model as compose does (env files, profiles,
// several files), narrowed to services (and what they depend on) when given.
func (e *Engine) load(ctx context.Context, ref forge.ProjectRef, services []string) (*types.Project, error) {
	p, err := e.compose.LoadProject(ctx, api.ProjectLoadOptions{
		ProjectName: ref.Name,
		ConfigPaths: ref.ConfigFiles,
		WorkingDir:  ref.WorkingDir,
		EnvFiles:    ref.EnvFiles,
		Profiles:    ref.Profiles,
		Services:    services,
		Offline:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("load project %s: %w", ref.Name, err)
	}
	return p, nil
}

// LoadProject loads a project's compose model. Models are cached while the
// project's compose and env files are unchanged, so matching a webhook
// against many projects stays cheap.
func (e *Engine) LoadProject(ctx context.Context, ref forge.ProjectRef) (forge.Project, error) {
	if ref.Stack {
		return e.loadStack(ctx, ref)
	}
	stamp, cacheable := fileStamp(ref)
	if cacheable {
		if p, ok := e.models.get(ref.Name, stamp); ok {
			return p, nil
		}
	}
	p, err := e.load(ctx, ref, nil)
	if err != nil {
		return forge.Project{}, err
	}
	out := forge.Project{Ref: ref}
	out.Ref.Name = p.Name
	out.Ref.WorkingDir = p.WorkingDir
	if len(out.Ref.ConfigFiles) == 0 {
		out.Ref.ConfigFiles = p.ComposeFiles
	}
	if out.Source, err = source(p); err != nil {
		return forge.Project{}, fmt.Errorf("load project %s: %w", ref.Name, err)
	}
	if out.Notify, err = notifyOf(p); err != nil {
		return forge.Project{}, fmt.Errorf("load project %s: %w", ref.Name, err)
	}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		deps := make([]string, 0, len(s.DependsOn))
		for dep := range s.DependsOn {
			deps = append(deps, dep)
		}
		slices.Sort(deps)
		b, err := buildOf(s.Build)
		if err != nil {
			return forge.Project{}, fmt.Errorf("load project %s: service %s: %w", ref.Name, name, err)
		}
		out.Services = append(out.Services, forge.Service{Name: name, Image: s.Image, Labels: s.Labels, DependsOn: deps, Build: b})
	}
	if cacheable {
		e.models.put(ref.Name, stamp, out)
	}
	return out, nil
}

// Resolve asks the registry for the digest of an image reference (repo:tag,
// or repo@digest to confirm the registry has it): with a HEAD request of
// its own first, and, when that does not answer (a registry the engine
// reaches through a mirror, its own CA or as an insecure registry; a
// digest reference), through the engine, which knows its configuration.
func (e *Engine) Resolve(ctx context.Context, image string) (string, error) {
	if host, ok := e.headable(image); ok {
		d, err := e.heads.Head(ctx, image)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, registry.ErrNotFound) {
			e.headless.Store(host, time.Now().Add(headRetry))
		}
		e.log.Debug("registry HEAD did not answer; asking the engine", "image", image, "error", err.Error())
	}
	auth, err := command.RetrieveAuthTokenFromImage(e.cli.ConfigFile(), image)
	if err != nil {
		return "", fmt.Errorf("resolve %s: registry credentials: %w", image, err)
	}
	res, err := e.cli.Client().DistributionInspect(ctx, image, client.DistributionInspectOptions{EncodedRegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", image, classify(err))
	}
	return res.Descriptor.Digest.String(), nil
}

// headable reports whether forge asks image's registry itself: not one it
// could not reach lately, nor a loopback registry of an engine on another
// host (its localhost is not forge's).
func (e *Engine) headable(image string) (string, bool) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", false
	}
	host := reference.Domain(named)
	if until, ok := e.headless.Load(host); ok && time.Now().Before(until.(time.Time)) {
		return host, false
	}
	if registry.IsLoopback(host) && !strings.HasPrefix(e.cli.DockerEndpoint().Host, "unix://") {
		return host, false
	}
	return host, true
}

// serviceContainers lists a project's service containers (not one-off
// `run` containers), stopped ones included.
func (e *Engine) serviceContainers(ctx context.Context, project string) ([]container.Summary, error) {
	res, err := e.cli.Client().ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", forge.ComposeProjectLabel+"="+project),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers of %s: %w", project, classify(err))
	}
	out := res.Items[:0]
	for _, c := range res.Items {
		if c.Labels[forge.ComposeServiceLabel] != "" && c.Labels[forge.ComposeOneoffLabel] != "True" {
			out = append(out, c)
		}
	}
	return out, nil
}

// Running reports, per service, what the project's containers run now (a
// swarm stack's: its tasks).
func (e *Engine) Running(ctx context.Context, project string) (map[string]forge.Running, error) {
	items, err := e.serviceContainers(ctx, project)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		if svcs, ok, err := e.stackOf(ctx, project); err != nil || ok {
			if err != nil {
				return nil, err
			}
			return e.stackRunning(ctx, project, svcs)
		}
	}
	out := map[string]forge.Running{}
	for _, c := range items {
		svc := c.Labels[forge.ComposeServiceLabel]
		if prev, ok := out[svc]; ok && prev.State == "running" {
			continue // a scaled service: the first running replica speaks for it
		}
		r := forge.Running{Service: svc, ContainerID: c.ID, Image: c.Image, ImageID: c.ImageID, State: string(c.State), ConfigHash: c.Labels[api.ConfigHashLabel]}
		r.Digest, err = e.runningDigest(ctx, c.Image, c.ImageID)
		if err != nil {
			return nil, fmt.Errorf("container %s of %s/%s: %w", shortID(c.ID), project, svc, err)
		}
		out[svc] = r
	}
	return out, nil
}

// runningDigest finds the registry digest of the image a container was made
// from: from a pinned reference directly, else from the image's repo digests
// for the same repository.
func (e *Engine) runningDigest(ctx context.Context, image, imageID string) (string, error) {
	if forge.IsImageID(image) {
		return "", nil // run by local image ID: no registry digest
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", nil // an image ID or a name compose did not write: no digest to speak of
	}
	if d, ok := named.(reference.Digested); ok {
		return d.Digest().String(), nil
	}
	img, err := e.cli.Client().ImageInspect(ctx, imageID)
	if err != nil {
		return "", fmt.Errorf("inspect image %s: %w", shortID(imageID), classify(err))
	}
	for _, rd := range img.RepoDigests {
		ref, err := reference.ParseNormalizedNamed(rd)
		if err != nil {
			continue
		}
		if d, ok := ref.(reference.Digested); ok && ref.Name() == named.Name() {
			return d.Digest().String(), nil
		}
	}
	return "", nil
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Up brings the target services up through the compose SDK as `compose up
// -d` would, each pinned service with its image set to its pin (a
// repo@digest, or a local image ID), a restored one first put back to its
// snapshot's configuration. Compose recreates a service whose
// configuration, image included, differs from what its container was
// created with, keeps the anonymous volumes of a container it recreates,
// and leaves the other services as they are. With Whole (a project's first
// deploy) every service of the project is brought up; otherwise only the
// targets, and what they depend on, left as they are.
//
// A target whose compose file asks for deploy.update_config.order
// start-first, as Swarm reads it, has its new container started beside the
// old one, which stops only then (see startFirst for when it can).
//
// It says which targets' configuration other than the image differed from
// what their container was created with (config-hash label), so a deploy
// can say why compose recreated them, and, with a masker, each target's
// snapshot as brought up.
//
// A swarm stack (Ref.Stack) is updated through the swarm instead: see
// upStack.
func (e *Engine) Up(ctx context.Context, req forge.UpRequest) (forge.UpResult, error) {
	if req.Ref.Stack {
		return e.upStack(ctx, req)
	}
	// Up's own preparation (loading, listing, pinning) counts in the
	// recreate, so pull + recreate is the whole of Up.
	began := time.Now()
	ref := req.Ref
	res := forge.UpResult{ConfigChanged: map[string]bool{}}
	targets := make([]string, 0, len(req.Pins))
	for svc := range req.Pins {
		targets = append(targets, svc)
	}
	slices.Sort(targets)
	var narrow []string
	if !req.Whole {
		narrow = targets
	}
	p, err := e.load(ctx, ref, narrow)
	if err != nil {
		return res, err
	}
	if err := e.tidyInterruptedRecreates(ctx, p.Name, targets); err != nil {
		return res, fmt.Errorf("up %s: %w", ref.Name, err)
	}
	current, err := e.serviceContainers(ctx, p.Name)
	if err != nil {
		return res, fmt.Errorf("up %s: %w", ref.Name, err)
	}
	var beside []string // services whose new container starts before the old stops
	olds := map[string]string{}
	var wait time.Duration
	for _, svc := range targets {
		s, ok := p.Services[svc]
		if !ok {
			return res, fmt.Errorf("up %s: no service %q in the compose model", ref.Name, svc)
		}
		if raw, ok := req.Restore[svc]; ok {
			restored, warnings, err := e.restoreService(p, s, raw)
			if err != nil {
				return res, fmt.Errorf("up %s: restore %s: %w", ref.Name, svc, err)
			}
			s, res.Warnings = restored, append(res.Warnings, warnings...)
		}
		pinned, configChanged, err := e.pinService(ctx, p.Name, s, req.Pins[svc], containerOf(current, svc))
		if err != nil {
			return res, fmt.Errorf("up %s: %w", ref.Name, err)
		}
		res.ConfigChanged[svc] = configChanged
		p.Services[svc] = pinned
		cur := containerOf(current, svc)
		first, warning := startFirst(pinned, cur)
		if first {
			beside = append(beside, svc)
			olds[svc] = cur.ID
			wait = max(wait, startFirstWait(pinned))
		}
		if warning != "" {
			res.Warnings = append(res.Warnings, warning)
		}
		if e.masker != nil {
			snap := pinned
			snap.Image = req.Pins[svc] // what runs, however compose was asked to spell it
			b, err := e.snapshotOf(p, snap)
			if err != nil {
				return res, fmt.Errorf("up %s: snapshot of %s: %w", ref.Name, svc, err)
			}
			if res.Snapshots == nil {
				res.Snapshots = map[string][]byte{}
			}
			res.Snapshots[svc] = b
		}
	}
	// The images the engine lacks are pulled first, as up would pull them,
	// so a deploy can say how long the pull took apart from the recreate.
	start := time.Now()
	if err := e.pullMissing(ctx, p); err != nil {
		return res, fmt.Errorf("up %s %s: pull: %w", ref.Name, strings.Join(targets, ","), classify(err))
	}
	res.Pull = time.Since(start)
	if len(beside) > 0 {
		if err := e.startBeside(ctx, p, beside, olds, wait); err != nil {
			res.Recreate = time.Since(began) - res.Pull
			return res, fmt.Errorf("up %s: %w", ref.Name, err)
		}
	}
	err = e.compose.Up(ctx, p, api.UpOptions{
		Create: api.CreateOptions{
			Services:             targets,
			Recreate:             api.RecreateDiverged,
			RecreateDependencies: api.RecreateNever,
			IgnoreOrphans:        true,
			QuietPull:            true,
			// As compose up does unless --renew-anon-volumes: a recreated
			// container keeps its predecessor's anonymous volumes (and their
			// data).
			Inherit: true,
		},
		Start: api.StartOptions{Project: p, Services: targets},
	})
	res.Recreate = time.Since(began) - res.Pull
	if err != nil {
		if len(beside) > 0 {
			e.dropBeside(context.WithoutCancel(ctx), p.Name, olds) // back to the old container, not two
		}
		return res, fmt.Errorf("up %s %s: %w", ref.Name, strings.Join(targets, ","), classify(err))
	}
	return res, nil
}

// pullMissing pulls the images that compose's up would pull first: those
// of services with the default pull policy (missing) whose image the
// engine lacks, and no other, so the pull is timed apart from the
// recreate. Other policies (always, daily, build, never) are left to up.
func (e *Engine) pullMissing(ctx context.Context, p *types.Project) error {
	var missing []string
	for name, s := range p.Services {
		if s.Image == "" || s.Build != nil || (s.PullPolicy != "" && s.PullPolicy != types.PullPolicyMissing && s.PullPolicy != types.PullPolicyIfNotPresent) {
			continue
		}
		_, err := e.cli.Client().ImageInspect(ctx, s.Image)
		switch {
		case cerrdefs.IsNotFound(err):
			missing = append(missing, name)
		case err != nil:
			return fmt.Errorf("inspect image %s: %w", s.Image, err)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	only, err := p.WithSelectedServices(missing, types.IgnoreDependencies)
	if err != nil {
		return err
	}
	for name, s := range only.Services {
		s.PullPolicy = types.PullPolicyMissing // compose's pull takes "" as always
		only.Services[name] = s
	}
	return e.compose.Pull(ctx, only, api.PullOptions{Quiet: true, IgnoreBuildable: true})
}

// pinService returns s as compose is to bring it up with image pin, and
// whether its configuration other than the image differs from what cur (its
// container, nil when it has none) was created with.
//
// A container that runs the pinned image already, with an unchanged
// configuration, keeps the image reference it was created with (a tag, say,
// where forge would write repo@digest): compose then sees nothing to do, as
// `compose up -d` would, instead of recreating it for the spelling.
func (e *Engine) pinService(ctx context.Context, project string, s types.ServiceConfig, pin string, cur *container.Summary) (types.ServiceConfig, bool, error) {
	pinned := s
	pinned.Image = pin
	pinned.Build = nil // built (or pulled) already: Up never builds
	if pinned.PullPolicy == types.PullPolicyNever || pinned.PullPolicy == types.PullPolicyBuild {
		pinned.PullPolicy = types.PullPolicyMissing
	}
	if cur == nil {
		return pinned, false, nil
	}
	// The hash compose stamped on the container covers the image as it was
	// written then: try the container's own reference, and the compose
	// file's (a build-only service hashes without one).
	kept, same := "", false
	for _, image := range []string{cur.Image, s.Image} {
		as := s
		as.Image = image
		if h, err := compose.ServiceHash(as); err == nil && h == cur.Labels[api.ConfigHashLabel] {
			kept, same = image, true
			break
		}
	}
	if !same {
		return pinned, true, nil
	}
	if kept == pin {
		return pinned, false, nil
	}
	// Only when both references name the very image the container runs.
	pinID, err := e.ImageID(ctx, pin)
	if err != nil {
		return pinned, false, err
	}
	named := types.ServiceConfig{Name: s.Name}
	named.Image = kept
	keptID, err := e.ImageID(ctx, api.GetImageNameOrDefault(named, project))
	if err != nil {
		return pinned, false, err
	}
	if pinID == "" || pinID != cur.ImageID || keptID != cur.ImageID {
		return pinned, false, nil
	}
	if kept == "" {
		return s, false, nil // a build-only service, as compose named its image
	}
	unchanged := pinned
	unchanged.Image = kept
	return unchanged, false, nil
}

// containerOf returns a service's container among a project's, preferring
// a running one; nil when it has none.
func containerOf(items []container.Summary, service string) *container.Summary {
	var found *container.Summary
	for i := range items {
		c := &items[i]
		if c.Labels[forge.ComposeServiceLabel] != service {
			continue
		}
		if c.State == container.StateRunning {
			return c
		}
		if found == nil {
			found = c
		}
	}
	return found
}

// progressLog turns compose progress events into debug log lines.
type progressLog struct{ log *slog.Logger }

func (p progressLog) Start(_ context.Context, op string) {
	p.log.Debug("compose start", "operation", op)
}

func (p progressLog) On(events ...api.Resource) {
	for _, ev := range events {
		if ev.Status == api.Working {
			continue
		}
		p.log.Debug("compose progress", "resource", ev.ID, "status", ev.StatusText(), "text", ev.Text)
	}
}

// Done's flag is what compose v5.6 passes: err != nil, despite the
// interface's name for it.
func (p progressLog) Done(op string, failed bool) {
	p.log.Debug("compose done", "operation", op, "failed", failed)
}

// RegistryCredentials returns the user's credentials for a registry host from
// the Docker config, credential helpers included; empty when there are none.
func (e *Engine) RegistryCredentials(host string) (string, string) {
	key := host
	if host == "docker.io" {
		key = "https://index.docker.io/v1/"
	}
	ac, err := e.cli.ConfigFile().GetAuthConfig(key)
	if err != nil {
		e.log.Debug("registry credentials unavailable", "host", host, "error", err)
		return "", ""
	}
	if ac.IdentityToken != "" {
		return "<token>", ac.IdentityToken
	}
	return ac.Username, ac.Password
}
