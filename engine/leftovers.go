package engine

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
)

// recreateTmpName is the name compose gives a container while it recreates
// one: the old container's short id, "_", the final name. Compose renames
// it once the old one is gone; a daemon killed in between leaves it behind.
var recreateTmpName = regexp.MustCompile(`^/?[0-9a-f]{12}_(.+)$`)

// tidyInterruptedRecreates clears what an interrupted compose recreate left
// for the given services: a temporary container beside the one it was to
// replace is removed (the next Up recreates it properly); one left alone
// gets its final name back.
func (e *Engine) tidyInterruptedRecreates(ctx context.Context, project string, services []string) error {
	items, err := e.serviceContainers(ctx, project)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, c := range items {
		for _, n := range c.Names {
			names[strings.TrimPrefix(n, "/")] = true
		}
	}
	wanted := map[string]bool{}
	for _, s := range services {
		wanted[s] = true
	}
	for _, c := range items {
		if !wanted[c.Labels[forge.ComposeServiceLabel]] || len(c.Names) == 0 {
			continue
		}
		m := recreateTmpName.FindStringSubmatch(c.Names[0])
		if m == nil {
			continue
		}
		final := m[1]
		if names[final] {
			e.log.Warn("removing a container an interrupted recreate left behind", "project", project, "container", strings.TrimPrefix(c.Names[0], "/"))
			if _, err := e.cli.Client().ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
				return fmt.Errorf("remove leftover %s: %w", shortID(c.ID), classify(err))
			}
			continue
		}
		e.log.Warn("renaming a container an interrupted recreate left behind", "project", project, "container", strings.TrimPrefix(c.Names[0], "/"), "name", final)
		if _, err := e.cli.Client().ContainerRename(ctx, c.ID, client.ContainerRenameOptions{NewName: final}); err != nil {
			return fmt.Errorf("rename leftover %s: %w", shortID(c.ID), classify(err))
		}
		names[final] = true
	}
	return nil
}
