package engine

import (
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"
	"github.com/moby/moby/api/types/container"
)

func TestStartFirst(t *testing.T) {
	base := func() types.ServiceConfig {
		s := types.ServiceConfig{Name: "web", Deploy: &types.DeployConfig{UpdateConfig: &types.UpdateConfig{Order: OrderStartFirst}}}
		s.Image = "registry.example.com/web@sha256:" + strings.Repeat("b", 64)
		return s
	}
	running := func(s types.ServiceConfig, mounts ...container.MountPoint) *container.Summary {
		old := s
		old.Image = "registry.example.com/web@sha256:" + strings.Repeat("a", 64)
		h, err := compose.ServiceHash(old)
		if err != nil {
			t.Fatal(err)
		}
		return &container.Summary{State: container.StateRunning, Labels: map[string]string{api.ConfigHashLabel: h}, Mounts: mounts}
	}
	two := 2
	tests := []struct {
		name    string
		edit    func(s *types.ServiceConfig)
		cur     func(s types.ServiceConfig) *container.Summary
		want    bool
		warning string
	}{
		{name: "asks, and can", edit: func(*types.ServiceConfig) {}, cur: func(s types.ServiceConfig) *container.Summary { return running(s) }, want: true},
		{name: "does not ask", edit: func(s *types.ServiceConfig) { s.Deploy = nil }, cur: func(s types.ServiceConfig) *container.Summary { return running(s) }},
		{name: "stop-first", edit: func(s *types.ServiceConfig) { s.Deploy.UpdateConfig.Order = "stop-first" }, cur: func(s types.ServiceConfig) *container.Summary { return running(s) }},
		{name: "nothing runs yet", edit: func(*types.ServiceConfig) {}, cur: func(types.ServiceConfig) *container.Summary { return nil }},
		{name: "compose will not recreate it", edit: func(*types.ServiceConfig) {}, cur: func(s types.ServiceConfig) *container.Summary {
			h, _ := compose.ServiceHash(s)
			return &container.Summary{State: container.StateRunning, Labels: map[string]string{api.ConfigHashLabel: h}}
		}},
		{name: "a fixed host port", edit: func(s *types.ServiceConfig) { s.Ports = []types.ServicePortConfig{{Target: 80, Published: "8080"}} },
			cur: func(s types.ServiceConfig) *container.Summary { return running(s) }, warning: "fixed host port"},
		{name: "an ephemeral host port", edit: func(s *types.ServiceConfig) { s.Ports = []types.ServicePortConfig{{Target: 80}} },
			cur: func(s types.ServiceConfig) *container.Summary { return running(s) }, want: true},
		{name: "a container_name", edit: func(s *types.ServiceConfig) { s.ContainerName = "web" },
			cur: func(s types.ServiceConfig) *container.Summary { return running(s) }, warning: "container_name"},
		{name: "replicas", edit: func(s *types.ServiceConfig) { s.Deploy.Replicas = &two },
			cur: func(s types.ServiceConfig) *container.Summary { return running(s) }, warning: "2 replicas"},
		{name: "an anonymous volume", edit: func(*types.ServiceConfig) {}, cur: func(s types.ServiceConfig) *container.Summary {
			return running(s, container.MountPoint{Type: "volume", Name: strings.Repeat("f", 64), Destination: "/data"})
		}, warning: "anonymous volume"},
		{name: "host network", edit: func(s *types.ServiceConfig) { s.NetworkMode = "host" },
			cur: func(s types.ServiceConfig) *container.Summary { return running(s) }, warning: "network namespace"},
		{name: "another service's network", edit: func(s *types.ServiceConfig) { s.NetworkMode = "service:db" },
			cur: func(s types.ServiceConfig) *container.Summary { return running(s) }, warning: "network namespace"},
		{name: "a fixed IP", edit: func(s *types.ServiceConfig) {
			s.Networks = map[string]*types.ServiceNetworkConfig{"back": {Ipv4Address: "172.30.0.10"}}
		}, cur: func(s types.ServiceConfig) *container.Summary { return running(s) }, warning: "fixed IP"},
		{name: "a named volume", edit: func(*types.ServiceConfig) {}, cur: func(s types.ServiceConfig) *container.Summary {
			return running(s, container.MountPoint{Type: "volume", Name: "shop_data", Destination: "/data"})
		}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			tt.edit(&s)
			got, warning := startFirst(s, tt.cur(s))
			if got != tt.want || (tt.warning == "") != (warning == "") || !strings.Contains(warning, tt.warning) {
				t.Errorf("startFirst = %v, %q; want %v with a warning about %q", got, warning, tt.want, tt.warning)
			}
		})
	}
}
