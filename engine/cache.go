package engine

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/docker-forge/docker-forge"
)

// modelCache keeps loaded compose models keyed by project, valid while the
// stamp of their files is unchanged.
type modelCache struct {
	mu      sync.Mutex
	entries map[string]modelEntry
}

type modelEntry struct {
	stamp   string
	project forge.Project
}

func (c *modelCache) get(name, stamp string) (forge.Project, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[name]
	if !ok || e.stamp != stamp {
		return forge.Project{}, false
	}
	return cloneProject(e.project), true
}

func (c *modelCache) put(name, stamp string, p forge.Project) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]modelEntry{}
	}
	c.entries[name] = modelEntry{stamp: stamp, project: cloneProject(p)}
}

// cloneProject copies p so callers cannot change the cached model.
func cloneProject(p forge.Project) forge.Project {
	out := p
	out.Ref.ConfigFiles = slices.Clone(p.Ref.ConfigFiles)
	out.Ref.EnvFiles = slices.Clone(p.Ref.EnvFiles)
	out.Ref.Profiles = slices.Clone(p.Ref.Profiles)
	out.Notify = slices.Clone(p.Notify)
	out.Services = make([]forge.Service, len(p.Services))
	for i, s := range p.Services {
		s.Labels = maps.Clone(s.Labels)
		out.Services[i] = s
	}
	return out
}

// fileStamp describes every file a project's model is read from: the compose
// files, the env files and the working dir's .env, by size and modification
// time. A project whose compose files are found by search (no config files
// named) is not cacheable.
func fileStamp(ref forge.ProjectRef) (string, bool) {
	if len(ref.ConfigFiles) == 0 {
		return "", false
	}
	files := slices.Concat(ref.ConfigFiles, ref.EnvFiles)
	if ref.WorkingDir != "" {
		files = append(files, filepath.Join(ref.WorkingDir, ".env"))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|", ref.Name, ref.WorkingDir, strings.Join(ref.Profiles, ","))
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			fmt.Fprintf(&b, "%s:missing|", f)
			continue
		}
		fmt.Fprintf(&b, "%s:%d:%d|", f, st.Size(), st.ModTime().UnixNano())
	}
	return b.String(), true
}
