package engine

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"
	"github.com/moby/moby/api/types/container"
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
// scale of 2 that recreates nothing. The Up that follows (scale 1)
// removes the obsolete container and keeps the new one, as compose's
// scale-down trims obsolete replicas first.
func (e *Engine) startBeside(ctx context.Context, p *types.Project, services []string) error {
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
		Start: api.StartOptions{Project: &two, Services: services},
	})
	if err != nil {
		return fmt.Errorf("start %s beside the running containers: %w", strings.Join(services, ","), classify(err))
	}
	return nil
}
