package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
)

const (
	// swarmPoll is how often an update's progress is read.
	swarmPoll = 250 * time.Millisecond
	// updateTimeout bounds the wait for one service's update (its delays,
	// monitor periods, a rollback) when the caller's context does not.
	updateTimeout = 10 * time.Minute
	// startTimeout bounds the wait for a new service's first tasks (the
	// pull of its image, mostly).
	startTimeout = 3 * time.Minute
)

// errLocalPin refuses a local image ID for a stack service: each node pulls
// the image from its registry.
var errLocalPin = errors.New("a swarm service runs a registry image: push it first (a local image ID cannot be pinned on a swarm)")

// pending is a service change the swarm is carrying out.
type pending struct {
	id, name string
	// created marks a new service; otherwise prev is when the update
	// before this one began (nil when there was none).
	created bool
	prev    *time.Time
	// limit bounds the wait; 0 means updateTimeout (startTimeout for a
	// new service).
	limit time.Duration
}

// updateLimit is how long a service's rolling update may take before forge
// stops waiting: its batches (replicas over parallelism), each with its
// delay and monitor period and time to pull and start, and its rollback as
// long again; never less than updateTimeout.
func updateLimit(spec swarm.ServiceSpec) time.Duration {
	replicas := uint64(1)
	if r := spec.Mode.Replicated; r != nil && r.Replicas != nil {
		replicas = max(*r.Replicas, 1)
	}
	batches, perBatch := uint64(1), 2*time.Minute
	if u := spec.UpdateConfig; u != nil {
		if u.Parallelism > 0 {
			batches = (replicas + u.Parallelism - 1) / u.Parallelism
		}
		perBatch += u.Delay + u.Monitor
	}
	return max(updateTimeout, 2*time.Duration(batches)*perBatch)
}

// upStack is Up for a stack. A first deploy from a stack file (Whole, or
// no service of the stack yet) deploys the file with the services' images
// pinned; otherwise each target service whose image is not at its pin yet
// is updated to it through the service update API, keeping the rest of its
// spec (update_config and rollback_config included), and Up waits until
// the swarm has completed each update, paused it or rolled it back.
func (e *Engine) upStack(ctx context.Context, req forge.UpRequest) (forge.UpResult, error) {
	began := time.Now()
	var res forge.UpResult
	ref := req.Ref
	if err := e.requireManager(ctx); err != nil {
		return res, fmt.Errorf("up stack %s: %w", ref.Name, err)
	}
	svcs, err := e.stackServices(ctx, ref.Name)
	if err != nil {
		return res, fmt.Errorf("up stack %s: %w", ref.Name, err)
	}
	var waits []pending
	if len(ref.ConfigFiles) > 0 && (req.Whole || len(svcs) == 0) {
		waits, res.Warnings, err = e.deployStackFile(ctx, ref, req.Pins, svcs)
	} else {
		waits, res.Warnings, err = e.updateStack(ctx, ref.Name, req, svcs)
	}
	if err != nil {
		res.Recreate = time.Since(began)
		return res, fmt.Errorf("up stack %s: %w", ref.Name, err)
	}
	var errs []error
	for _, w := range waits {
		if err := e.waitFor(ctx, w); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", w.name, err))
		}
	}
	res.Recreate = time.Since(began)
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("up stack %s: %w", ref.Name, err)
	}
	return res, nil
}

// updateStack moves each pinned service of an existing stack to its pin.
func (e *Engine) updateStack(ctx context.Context, project string, req forge.UpRequest, svcs []swarm.Service) ([]pending, []string, error) {
	byName := map[string]swarm.Service{}
	for _, s := range svcs {
		byName[shortName(project, s.Spec.Name)] = s
	}
	targets := make([]string, 0, len(req.Pins))
	for name := range req.Pins {
		targets = append(targets, name)
	}
	slices.Sort(targets)
	var (
		waits    []pending
		warnings []string
	)
	for _, name := range targets {
		s, ok := byName[name]
		if !ok {
			return waits, warnings, fmt.Errorf("no service %q in the stack", name)
		}
		if len(req.Restore[name]) > 0 {
			warnings = append(warnings, fmt.Sprintf("service %s: a swarm service returns to its image only; its configuration stays the stack's as it is now", name))
		}
		w, err := e.updateImage(ctx, s.ID, name, req.Pins[name])
		if err != nil {
			return waits, warnings, fmt.Errorf("service %s: %w", name, err)
		}
		if w != nil {
			waits = append(waits, *w)
		}
	}
	return waits, warnings, nil
}

// updateImage sets a service's image to pin with a service update that
// changes nothing else; nil when the service is at its pin already.
func (e *Engine) updateImage(ctx context.Context, id, name, pin string) (*pending, error) {
	if forge.IsImageID(pin) {
		return nil, errLocalPin
	}
	// Inspected afresh: the update must name the version it replaces.
	in, err := e.cli.Client().ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", classify(err))
	}
	svc := in.Service
	cs := svc.Spec.TaskTemplate.ContainerSpec
	if cs == nil {
		return nil, errors.New("not a container service")
	}
	if atPin(cs.Image, pin) {
		return nil, nil
	}
	image, err := pinnedImage(cs.Image, pin)
	if err != nil {
		return nil, err
	}
	spec := svc.Spec
	pinned := *cs
	pinned.Image = image
	spec.TaskTemplate.ContainerSpec = &pinned
	auth, err := command.RetrieveAuthTokenFromImage(e.cli.ConfigFile(), image)
	if err != nil {
		return nil, fmt.Errorf("registry credentials for %s: %w", image, err)
	}
	res, err := e.cli.Client().ServiceUpdate(ctx, svc.ID, client.ServiceUpdateOptions{
		Version: svc.Version, Spec: spec, EncodedRegistryAuth: auth,
	})
	if err != nil {
		return nil, fmt.Errorf("update to %s: %w", image, classify(err))
	}
	for _, w := range res.Warnings {
		e.log.Warn("service update warning", "service", svc.Spec.Name, "warning", w)
	}
	e.log.Info("swarm service updating", "service", svc.Spec.Name, "image", image)
	var prev *time.Time
	if us := svc.UpdateStatus; us != nil && us.StartedAt != nil {
		t := *us.StartedAt
		prev = &t
	}
	return &pending{id: svc.ID, name: name, prev: prev, limit: updateLimit(svc.Spec)}, nil
}

// waitFor waits until the swarm has carried out a service change. An
// update ends when the swarm completes it (or pauses it: the health gate
// then judges the tasks), or fails with forge.ErrRolledBack when the swarm
// rolled it back; a new service's wait ends when its tasks run, or one
// failed to start (the health gate judges that too).
func (e *Engine) waitFor(ctx context.Context, w pending) error {
	limit := cmp.Or(w.limit, updateTimeout)
	if w.created {
		limit = startTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		done, err := e.settled(ctx, w)
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the swarm: %w", context.Cause(ctx))
		case <-time.After(swarmPoll):
		}
	}
}

// settled reads a service once and says whether its change is over.
func (e *Engine) settled(ctx context.Context, w pending) (bool, error) {
	in, err := e.cli.Client().ServiceInspect(ctx, w.id, client.ServiceInspectOptions{})
	if err != nil {
		return false, fmt.Errorf("inspect: %w", classify(err))
	}
	svc := in.Service
	if !w.created {
		switch outcomeOf(svc.UpdateStatus, w.prev) {
		case updateDone:
			return true, nil
		case updateRolledBack:
			return true, fmt.Errorf("%w: %s", forge.ErrRolledBack, svc.UpdateStatus.Message)
		case updatePaused:
			e.log.Warn("swarm paused the update", "service", svc.Spec.Name, "state", svc.UpdateStatus.State, "message", svc.UpdateStatus.Message)
			return true, nil
		case updateRunning:
			return false, nil
		}
	}
	res, err := e.cli.Client().TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", w.id)})
	if err != nil {
		return false, fmt.Errorf("list tasks: %w", classify(err))
	}
	if converged(svc, res.Items) {
		return true, nil
	}
	return w.created && startFailed(svc, res.Items), nil
}
