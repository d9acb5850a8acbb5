package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/compose/convert"
	"github.com/docker/cli/cli/compose/loader"
	"github.com/docker/cli/cli/compose/schema"
	composetypes "github.com/docker/cli/cli/compose/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
)

// A stack's first deploy reads its stack file with docker/cli's compose
// loader and converts it with its convert package, the building blocks of
// `docker stack deploy`, then creates the stack's networks, secrets,
// configs and services, each service's image pinned.

// ValidateStackFile loads a stack file (several are merged) as docker
// stack deploy does, without touching any engine, so a file that does not
// load is refused before anything is asked of a daemon. It returns the
// options the file uses that a swarm ignores.
func ValidateStackFile(files []string, workingDir string) ([]string, error) {
	_, ignored, err := loadStackFile(files, workingDir)
	return ignored, err
}

// loadStackFile loads and validates a stack file: its schema, variables
// interpolated from the environment (as docker stack deploy interpolates
// them: this process's), and a valid image for every service.
func loadStackFile(files []string, workingDir string) (*composetypes.Config, []string, error) {
	if len(files) == 0 {
		return nil, nil, errors.New("no stack file named")
	}
	details := composetypes.ConfigDetails{WorkingDir: workingDir, Environment: environment()}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("stack file: %w", err)
		}
		dict, err := loader.ParseYAML(b)
		if err != nil {
			return nil, nil, fmt.Errorf("stack file %s: %w", f, err)
		}
		details.ConfigFiles = append(details.ConfigFiles, composetypes.ConfigFile{Filename: f, Config: dict})
	}
	details.Version = schema.Version(details.ConfigFiles[0].Config)
	cfg, err := loader.Load(details)
	if fpe, ok := errors.AsType[*loader.ForbiddenPropertiesError](err); ok {
		names := make([]string, 0, len(fpe.Properties))
		for name := range fpe.Properties {
			names = append(names, name)
		}
		slices.Sort(names)
		return nil, nil, fmt.Errorf("stack file %s: options a swarm does not support: %s", strings.Join(files, ","), strings.Join(names, ", "))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("stack file %s: %w", strings.Join(files, ","), err)
	}
	if len(cfg.Services) == 0 {
		return nil, nil, fmt.Errorf("stack file %s: no service", strings.Join(files, ","))
	}
	for _, s := range cfg.Services {
		if s.Image == "" {
			return nil, nil, fmt.Errorf("stack file: service %s: no image (a stack runs registry images; build and push it first)", s.Name)
		}
		if _, err := reference.ParseAnyReference(s.Image); err != nil {
			return nil, nil, fmt.Errorf("stack file: service %s: image %q: %w", s.Name, s.Image, err)
		}
	}
	dicts := make([]map[string]any, 0, len(details.ConfigFiles))
	for _, f := range details.ConfigFiles {
		dicts = append(dicts, f.Config)
	}
	return cfg, loader.GetUnsupportedProperties(dicts...), nil
}

// environment is this process's environment as a map, for interpolation.
func environment() map[string]string {
	out := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			out[k] = v
		}
	}
	return out
}

// deployStackFile deploys a stack from its stack file as docker stack
// deploy does, each service's image replaced by its pin (repo:tag@digest):
// networks, secrets and configs first, then each service created, or
// updated when it exists. It returns the changes to wait for.
func (e *Engine) deployStackFile(ctx context.Context, ref forge.ProjectRef, pins map[string]string, existing []swarm.Service) ([]pending, []string, error) {
	cfg, ignored, err := loadStackFile(ref.ConfigFiles, ref.WorkingDir)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	if len(ignored) > 0 {
		warnings = append(warnings, "the stack file's options a swarm ignores: "+strings.Join(ignored, ", "))
	}
	written := map[string]string{} // service -> its image as the file writes it
	for i, s := range cfg.Services {
		written[s.Name] = s.Image
		pin, ok := pins[s.Name]
		if !ok {
			continue
		}
		if forge.IsImageID(pin) {
			return nil, warnings, fmt.Errorf("service %s: %w", s.Name, errLocalPin)
		}
		if cfg.Services[i].Image, err = pinnedImage(s.Image, pin); err != nil {
			return nil, warnings, fmt.Errorf("service %s: %w", s.Name, err)
		}
	}
	ns := convert.NewNamespace(ref.Name)
	if err := e.stackNetworks(ctx, ns, cfg); err != nil {
		return nil, warnings, err
	}
	if err := e.stackObjects(ctx, ns, cfg); err != nil {
		return nil, warnings, err
	}
	specs, err := convert.Services(ctx, ns, cfg, e.cli.Client())
	if err != nil {
		return nil, warnings, fmt.Errorf("convert services: %w", err)
	}
	byName := map[string]swarm.Service{}
	for _, s := range existing {
		byName[s.Spec.Name] = s
	}
	names := make([]string, 0, len(specs))
	for name := range specs {
		names = append(names, name)
	}
	sort.Strings(names)
	var waits []pending
	for _, name := range names {
		spec := specs[name]
		// As docker stack deploy records it: the file's image, which a
		// later docker stack deploy compares with its file's.
		spec.Labels[convert.LabelImage] = written[name]
		w, err := e.putService(ctx, ns.Scope(name), name, spec, byName)
		if err != nil {
			return waits, warnings, fmt.Errorf("service %s: %w", name, err)
		}
		waits = append(waits, w)
	}
	return waits, warnings, nil
}

// putService creates a stack's service, or updates it when it exists.
func (e *Engine) putService(ctx context.Context, full, name string, spec swarm.ServiceSpec, existing map[string]swarm.Service) (pending, error) {
	var image string
	if cs := spec.TaskTemplate.ContainerSpec; cs != nil {
		image = cs.Image
	}
	auth, err := command.RetrieveAuthTokenFromImage(e.cli.ConfigFile(), image)
	if err != nil {
		return pending{}, fmt.Errorf("registry credentials for %s: %w", image, err)
	}
	svc, ok := existing[full]
	if !ok {
		res, err := e.cli.Client().ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec, EncodedRegistryAuth: auth})
		if err != nil {
			return pending{}, fmt.Errorf("create: %w", classify(err))
		}
		e.log.Info("swarm service created", "service", full, "image", image)
		return pending{id: res.ID, name: name, created: true}, nil
	}
	// A redeploy keeps the forced-update counter, so it replaces no task
	// that it does not change.
	spec.TaskTemplate.ForceUpdate = svc.Spec.TaskTemplate.ForceUpdate
	res, err := e.cli.Client().ServiceUpdate(ctx, svc.ID, client.ServiceUpdateOptions{Version: svc.Version, Spec: spec, EncodedRegistryAuth: auth})
	if err != nil {
		return pending{}, fmt.Errorf("update: %w", classify(err))
	}
	for _, w := range res.Warnings {
		e.log.Warn("service update warning", "service", full, "warning", w)
	}
	e.log.Info("swarm service updating", "service", full, "image", image)
	w := pending{id: svc.ID, name: name}
	if us := svc.UpdateStatus; us != nil && us.StartedAt != nil {
		t := *us.StartedAt
		w.prev = &t
	}
	return w, nil
}

// stackNetworks creates the networks a stack's services use that it does
// not have yet (overlay unless the file says otherwise), after checking
// that its external networks exist, swarm-scoped.
func (e *Engine) stackNetworks(ctx context.Context, ns convert.Namespace, cfg *composetypes.Config) error {
	used := map[string]struct{}{}
	for _, s := range cfg.Services {
		if len(s.Networks) == 0 {
			used["default"] = struct{}{}
		}
		for n := range s.Networks {
			used[n] = struct{}{}
		}
	}
	nets, external := convert.Networks(ns, cfg.Networks, used)
	for _, name := range external {
		if !container.NetworkMode(name).IsUserDefined() {
			continue // host, bridge, none: on every node already
		}
		res, err := e.cli.Client().NetworkInspect(ctx, name, client.NetworkInspectOptions{})
		switch {
		case cerrdefs.IsNotFound(err):
			return fmt.Errorf("external network %q does not exist: create it, swarm-scoped, first", name)
		case err != nil:
			return fmt.Errorf("inspect network %s: %w", name, classify(err))
		case res.Network.Scope != "swarm":
			return fmt.Errorf("external network %q is %s-scoped, not swarm-scoped", name, res.Network.Scope)
		}
	}
	have, err := e.cli.Client().NetworkList(ctx, client.NetworkListOptions{
		Filters: make(client.Filters).Add("label", forge.StackNamespaceLabel+"="+ns.Name()),
	})
	if err != nil {
		return fmt.Errorf("list networks: %w", classify(err))
	}
	for name, opts := range nets {
		if slices.ContainsFunc(have.Items, func(n network.Summary) bool { return n.Name == name }) {
			continue
		}
		if opts.Driver == "" {
			opts.Driver = "overlay"
		}
		if _, err := e.cli.Client().NetworkCreate(ctx, name, opts); err != nil {
			return fmt.Errorf("create network %s: %w", name, classify(err))
		}
		e.log.Info("swarm network created", "network", name)
	}
	return nil
}

// stackObjects creates the stack's secrets and configs, or updates those
// that exist, as docker stack deploy does.
func (e *Engine) stackObjects(ctx context.Context, ns convert.Namespace, cfg *composetypes.Config) error {
	api := e.cli.Client()
	secrets, err := convert.Secrets(ns, cfg.Secrets)
	if err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	for _, spec := range secrets {
		in, err := api.SecretInspect(ctx, spec.Name, client.SecretInspectOptions{})
		switch {
		case err == nil:
			_, err = api.SecretUpdate(ctx, in.Secret.ID, client.SecretUpdateOptions{Version: in.Secret.Version, Spec: spec})
		case cerrdefs.IsNotFound(err):
			_, err = api.SecretCreate(ctx, client.SecretCreateOptions{Spec: spec})
		}
		if err != nil {
			return fmt.Errorf("secret %s: %w", spec.Name, classify(err))
		}
	}
	configs, err := convert.Configs(ns, cfg.Configs)
	if err != nil {
		return fmt.Errorf("configs: %w", err)
	}
	for _, spec := range configs {
		in, err := api.ConfigInspect(ctx, spec.Name, client.ConfigInspectOptions{})
		switch {
		case err == nil:
			_, err = api.ConfigUpdate(ctx, in.Config.ID, client.ConfigUpdateOptions{Version: in.Config.Version, Spec: spec})
		case cerrdefs.IsNotFound(err):
			_, err = api.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: spec})
		}
		if err != nil {
			return fmt.Errorf("config %s: %w", spec.Name, classify(err))
		}
	}
	return nil
}
