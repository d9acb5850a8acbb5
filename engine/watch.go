package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
)

// projectIndex is the set of compose projects with containers, kept current
// from the engine's container events while Watch runs, so a webhook's
// acknowledgement does not wait on a container listing while the engine is
// busy deploying. It tracks each project's container ids, so a recreate
// (create, then destroy) never loses the project. Without a live watch every
// Projects call lists containers.
type projectIndex struct {
	mu         sync.Mutex
	live       bool // a watch is subscribed and the set is current
	refs       map[string]forge.ProjectRef
	containers map[string]map[string]bool // project -> container ids
}

func (x *projectIndex) snapshot() ([]forge.ProjectRef, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.live {
		return nil, false
	}
	out := make([]forge.ProjectRef, 0, len(x.refs))
	for _, r := range x.refs {
		out = append(out, r)
	}
	return out, true
}

// replace sets the index from a full listing (container id -> labels).
func (x *projectIndex) replace(containers map[string]map[string]string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.refs = map[string]forge.ProjectRef{}
	x.containers = map[string]map[string]bool{}
	for id, labels := range containers {
		x.addLocked(id, labels)
	}
	x.live = true
}

func (x *projectIndex) add(id string, labels map[string]string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.addLocked(id, labels)
}

func (x *projectIndex) addLocked(id string, labels map[string]string) {
	ref, ok := refFromLabels(labels)
	if !ok {
		return
	}
	if x.refs == nil {
		x.refs, x.containers = map[string]forge.ProjectRef{}, map[string]map[string]bool{}
	}
	x.refs[ref.Name] = ref
	if x.containers[ref.Name] == nil {
		x.containers[ref.Name] = map[string]bool{}
	}
	x.containers[ref.Name][id] = true
}

func (x *projectIndex) remove(id string, labels map[string]string) {
	name := labels[forge.ComposeProjectLabel]
	x.mu.Lock()
	defer x.mu.Unlock()
	ids := x.containers[name]
	delete(ids, id)
	if len(ids) == 0 {
		delete(x.containers, name)
		delete(x.refs, name)
	}
}

func (x *projectIndex) stop() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.live = false
}

// Watch keeps the project index current from the engine's container events
// until ctx ends, resubscribing with backoff when the engine goes away.
func (e *Engine) Watch(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := e.watchOnce(ctx)
		e.index.stop()
		if time.Since(started) > time.Minute {
			backoff = 100 * time.Millisecond // it was healthy: start over
		}
		if ctx.Err() != nil {
			break
		}
		e.log.Debug("container event stream ended; resubscribing", "error", err, "in", backoff.String())
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
	return nil
}

func (e *Engine) watchOnce(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Subscribe before listing, so no container created in between is missed.
	res := e.cli.Client().Events(ctx, client.EventsListOptions{
		Filters: make(client.Filters).
			Add("type", "container").
			Add("event", "create", "destroy").
			Add("label", forge.ComposeProjectLabel),
	})
	containers, err := e.listComposeContainers(ctx)
	if err != nil {
		return err
	}
	e.index.replace(containers)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-res.Err:
			if err == nil {
				err = errors.New("event stream closed")
			}
			return err
		case m := <-res.Messages:
			switch m.Action {
			case "create":
				e.index.add(m.Actor.ID, m.Actor.Attributes)
			case "destroy":
				e.index.remove(m.Actor.ID, m.Actor.Attributes)
			}
		}
	}
}
