package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
)

// Health reads, per service, what the health gate needs of its container:
// running or not, its healthcheck's status, when it started, how often it
// restarted.
func (e *Engine) Health(ctx context.Context, project string) (map[string]forge.Health, error) {
	items, err := e.serviceContainers(ctx, project)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		if svcs, ok, err := e.stackOf(ctx, project); err != nil || ok {
			if err != nil {
				return nil, err
			}
			return e.stackHealth(ctx, project, svcs)
		}
	}
	out := map[string]forge.Health{}
	for _, c := range items {
		svc := c.Labels[forge.ComposeServiceLabel]
		in, err := e.cli.Client().ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			return nil, fmt.Errorf("inspect %s of %s/%s: %w", shortID(c.ID), project, svc, classify(err))
		}
		h := forge.Health{Restarts: in.Container.RestartCount}
		if st := in.Container.State; st != nil {
			h.Running, h.State = st.Running && !st.Restarting, string(st.Status)
			h.StartedAt, _ = time.Parse(time.RFC3339Nano, st.StartedAt)
			if st.Health != nil {
				h.Status = string(st.Health.Status)
			}
		}
		if prev, ok := out[svc]; ok {
			h = worse(prev, h) // a scaled service is as healthy as its worst replica
		}
		out[svc] = h
	}
	return out, nil
}

// worse combines two replicas of a service: running only if both run, the
// worse health status, the later start, the restarts of both.
func worse(a, b forge.Health) forge.Health {
	rank := map[string]int{"": 0, "healthy": 1, "starting": 2, "unhealthy": 3}
	out := a
	if rank[b.Status] > rank[a.Status] {
		out.Status = b.Status
	}
	if !b.Running {
		out.Running, out.State = false, b.State
	}
	if b.StartedAt.After(a.StartedAt) {
		out.StartedAt = b.StartedAt
	}
	out.Restarts = a.Restarts + b.Restarts
	return out
}
