package engine

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
)

// OrderStartFirst is the compose file's deploy.update_config.order value,
// as Swarm reads it, that asks for a service's new container to start
// before its old one stops.
const OrderStartFirst = "start-first"

// anonymousVolume is the name the engine gives a volume nobody named.
var anonymousVolume = regexp.MustCompile(`^[0-9a-f]{64}$`)

// startFirst says whether service s (pinned as it is to come up) is to
// start its new container before the old one, cur, stops: s asks for it
// (deploy.update_config.order: start-first), cur runs and compose is about
// to recreate it, and two of it can run at once: one replica, no
// container_name, no fixed host port, no anonymous volume that a recreate
// would hand over. A service that asks but cannot gets a warning saying
// why, and is recreated as compose does: stop first.
func startFirst(s types.ServiceConfig, cur *container.Summary) (bool, string) {
	if s.Deploy == nil || s.Deploy.UpdateConfig == nil || s.Deploy.UpdateConfig.Order != OrderStartFirst {
		return false, ""
	}
	if cur == nil || cur.State != container.StateRunning {
		return false, ""
	}
	if h, err := compose.ServiceHash(s); err == nil && h == cur.Labels[api.ConfigHashLabel] {
		return false, "" // compose will not recreate it
	}
	why := ""
	switch {
	case s.NetworkMode != "" && s.NetworkMode != "bridge" && !strings.HasPrefix(s.NetworkMode, "default"):
		why = fmt.Sprintf("it shares a network namespace (network_mode %s)", s.NetworkMode)
	case s.MacAddress != "" || fixedAddress(s.Networks):
		why = "it has a fixed IP or MAC address"
	case s.GetScale() != 1:
		why = fmt.Sprintf("it runs %d replicas", s.GetScale())
	case s.ContainerName != "":
		why = "it has a container_name"
	case fixedHostPort(s.Ports):
		why = "it publishes a fixed host port"
	case anonymousMount(cur.Mounts):
		why = "its container has an anonymous volume, which only a recreate hands over"
	}
	if why != "" {
		return false, fmt.Sprintf("service %s asks for update order %s, but %s: its old container was stopped first", s.Name, OrderStartFirst, why)
	}
	return true, ""
}

func fixedAddress(networks map[string]*types.ServiceNetworkConfig) bool {
	for _, n := range networks {
		if n != nil && (n.Ipv4Address != "" || n.Ipv6Address != "" || n.MacAddress != "") {
			return true
		}
	}
	return false
}

func fixedHostPort(ports []types.ServicePortConfig) bool {
	for _, p := range ports {
		if p.Published != "" && p.Published != "0" {
			return true
		}
	}
	return false
}

func anonymousMount(mounts []container.MountPoint) bool {
	for _, m := range mounts {
		if m.Type == "volume" && anonymousVolume.MatchString(m.Name) {
			return true
		}
	}
	return false
}

// startBeside starts one more replica of each service named, at p's
// configuration, while the old containers keep running: compose up with a
// scale of 2 that recreates nothing, waiting until the new replica runs
// (or is healthy, with a healthcheck) within wait. The Up that follows
// (scale 1) removes the obsolete container and keeps the new one, as
// compose's scale-down trims obsolete replicas first. When the new replica
// does not come up, it is removed again and the old one is left as it was.
func (e *Engine) startBeside(ctx context.Context, p *types.Project, services []string, old map[string]string, wait time.Duration) error {
	two := *p
	two.Services = maps.Clone(p.Services)
	for _, name := range services {
		s := two.Services[name]
		if s.Deploy != nil {
			d := *s.Deploy
			s.Deploy = &d
		}
		s.SetScale(2)
		two.Services[name] = s
	}
	err := e.compose.Up(ctx, &two, api.UpOptions{
		Create: api.CreateOptions{
			Services: services, Recreate: api.RecreateNever, RecreateDependencies: api.RecreateNever,
			IgnoreOrphans: true, QuietPull: true,
		},
		Start: api.StartOptions{Project: &two, Services: services, Wait: true, WaitTimeout: wait},
	})
	if err != nil {
		e.dropBeside(context.WithoutCancel(ctx), p.Name, old)
		return fmt.Errorf("start %s beside the running containers: %w", strings.Join(services, ","), classify(err))
	}
	return nil
}

// dropBeside removes, for each service whose old container (by ID) still
// exists, every other container of it: the replicas a start-first deploy
// left when it failed. A service whose old container is gone keeps what it
// has: the new one is all that runs.
func (e *Engine) dropBeside(ctx context.Context, project string, old map[string]string) {
	current, err := e.serviceContainers(ctx, project)
	if err != nil {
		e.log.Warn("start-first: replicas left to remove not listed", "project", project, "error", err)
		return
	}
	for svc, oldID := range old {
		if !slices.ContainsFunc(current, func(c container.Summary) bool { return c.ID == oldID }) {
			continue
		}
		for _, c := range current {
			if c.Labels[forge.ComposeServiceLabel] != svc || c.ID == oldID {
				continue
			}
			if _, err := e.cli.Client().ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
				e.log.Warn("start-first: a replica left behind", "project", project, "service", svc, "container", shortID(c.ID), "error", err)
			}
		}
	}
}

// startFirstWait is how long a start-first replica may take to run (and
// turn healthy): the service's forge.health-timeout, or 60 s.
func startFirstWait(s types.ServiceConfig) time.Duration {
	if d, err := time.ParseDuration(s.Labels[forge.LabelHealthTimeout]); err == nil && d > 0 {
		return d
	}
	return time.Minute
}
