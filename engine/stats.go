package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
)

// ErrNotRunning is returned by ContainerStats for a container that stopped
// or vanished: it has no reading, which is not a reading of zero.
var ErrNotRunning = errors.New("container is not running")

// StatsTargets lists the running containers that carry compose labels, and
// the task containers of swarm stacks, with the project (the stack) and
// service each belongs to: what the collector samples.
func (e *Engine) StatsTargets(ctx context.Context) ([]forge.ContainerSample, error) {
	var out []forge.ContainerSample
	for _, label := range []string{forge.ComposeProjectLabel, forge.StackNamespaceLabel} {
		res, err := e.cli.Client().ContainerList(ctx, client.ContainerListOptions{
			Filters: make(client.Filters).Add("label", label).Add("status", "running"),
		})
		if err != nil {
			return nil, fmt.Errorf("list running containers: %w", classify(err))
		}
		for _, c := range res.Items {
			project, svc := c.Labels[forge.ComposeProjectLabel], c.Labels[forge.ComposeServiceLabel]
			if label == forge.StackNamespaceLabel {
				project = c.Labels[forge.StackNamespaceLabel]
				svc = shortName(project, c.Labels[swarmServiceLabel])
			}
			if svc == "" || project == "" {
				continue
			}
			name := c.ID[:min(12, len(c.ID))]
			if len(c.Names) > 0 {
				name = strings.TrimPrefix(c.Names[0], "/")
			}
			out = append(out, forge.ContainerSample{ID: c.ID, Name: name, Project: project, Service: svc})
		}
	}
	return out, nil
}

// swarmServiceLabel names the swarm service a task container runs for.
const swarmServiceLabel = "com.docker.swarm.service.name"

// ContainerStats takes one reading of target's container. With previous,
// the engine takes two readings a second apart and returns the earlier one
// too (PreCPUTotal), so a CPU percentage needs no reading of forge's own;
// without, it answers at its next sampling tick.
func (e *Engine) ContainerStats(ctx context.Context, target forge.ContainerSample, previous bool) (forge.ContainerSample, error) {
	res, err := e.cli.Client().ContainerStats(ctx, target.ID, client.ContainerStatsOptions{IncludePreviousSample: previous})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return target, fmt.Errorf("stats of %s: %w", target.Name, ErrNotRunning)
		}
		return target, fmt.Errorf("stats of %s: %w", target.Name, classify(err))
	}
	defer res.Body.Close()
	hostMem, err := e.hostMemory(ctx)
	if err != nil {
		return target, err
	}
	s, err := DecodeStats(res.Body, hostMem)
	if err != nil && e.gone(ctx, target.ID) {
		// The engine ended the answer because the container stopped or
		// was removed mid-read (a recreate): no reading, not a failure.
		return target, fmt.Errorf("stats of %s: %w", target.Name, ErrNotRunning)
	}
	if err != nil {
		return target, fmt.Errorf("stats of %s: %w", target.Name, err)
	}
	s.ID, s.Name, s.Project, s.Service = target.ID, target.Name, target.Project, target.Service
	return s, nil
}

// gone reports whether a container no longer runs: removed, or stopped.
func (e *Engine) gone(ctx context.Context, id string) bool {
	res, err := e.cli.Client().ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return true
	}
	return err == nil && res.Container.State != nil && !res.Container.State.Running
}

// hostMemory is the host's memory, read once: a container whose memory
// limit is at least this has no limit of its own.
func (e *Engine) hostMemory(ctx context.Context) (uint64, error) {
	if m := e.hostMem.Load(); m != 0 {
		return m, nil
	}
	// The first collection's calls all arrive here at once: one asks.
	e.hostMemMu.Lock()
	defer e.hostMemMu.Unlock()
	if m := e.hostMem.Load(); m != 0 {
		return m, nil
	}
	h, err := e.Host(ctx)
	if err != nil {
		return 0, err
	}
	e.hostMem.Store(h.Memory)
	return h.Memory, nil
}

// DecodeStats reads one stats answer of the Docker API (GET
// /containers/{id}/stats?stream=false) into a sample, computing memory and
// I/O the way docker stats does. hostMem turns a limit that is the host's
// memory into 0, "unlimited". An answer with no reading time is a container
// that is not running: ErrNotRunning.
func DecodeStats(r io.Reader, hostMem uint64) (forge.ContainerSample, error) {
	var v container.StatsResponse
	if err := json.NewDecoder(r).Decode(&v); err != nil {
		return forge.ContainerSample{}, fmt.Errorf("decode stats: %w", err)
	}
	if v.Read.IsZero() || v.Read.Year() <= 1 {
		return forge.ContainerSample{}, ErrNotRunning
	}
	s := forge.ContainerSample{
		ID:             v.ID,
		Name:           strings.TrimPrefix(v.Name, "/"),
		Read:           v.Read.UTC(),
		CPUTotal:       v.CPUStats.CPUUsage.TotalUsage,
		SystemTotal:    v.CPUStats.SystemUsage,
		OnlineCPUs:     v.CPUStats.OnlineCPUs,
		PreCPUTotal:    v.PreCPUStats.CPUUsage.TotalUsage,
		PreSystemTotal: v.PreCPUStats.SystemUsage,
		Memory:         memoryWithoutCache(v.MemoryStats),
		MemoryLimit:    v.MemoryStats.Limit,
		PIDs:           v.PidsStats.Current,
	}
	if s.OnlineCPUs == 0 {
		s.OnlineCPUs = uint32(len(v.CPUStats.CPUUsage.PercpuUsage))
	}
	if hostMem > 0 && s.MemoryLimit >= hostMem {
		s.MemoryLimit = 0
	}
	for _, n := range v.Networks {
		s.NetRx += n.RxBytes
		s.NetTx += n.TxBytes
	}
	for _, b := range v.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(b.Op) {
		case "read":
			s.BlockRead += b.Value
		case "write":
			s.BlockWrite += b.Value
		}
	}
	return s, nil
}

// memoryWithoutCache is usage less the inactive page cache: total_inactive_file
// on cgroup v1, inactive_file on v2, as docker stats computes it.
func memoryWithoutCache(m container.MemoryStats) uint64 {
	if v, ok := m.Stats["total_inactive_file"]; ok && v < m.Usage {
		return m.Usage - v
	}
	if v := m.Stats["inactive_file"]; v < m.Usage {
		return m.Usage - v
	}
	return m.Usage
}

// Host is a snapshot of the Docker host: CPUs, memory, containers, images
// and the engine's version.
func (e *Engine) Host(ctx context.Context) (forge.HostStats, error) {
	res, err := e.cli.Client().Info(ctx, client.InfoOptions{})
	if err != nil {
		return forge.HostStats{}, fmt.Errorf("docker engine info: %w", classify(err))
	}
	i := res.Info
	return forge.HostStats{
		EngineVersion:     i.ServerVersion,
		APIVersion:        e.cli.Client().ClientVersion(),
		OS:                i.OperatingSystem,
		CPUs:              i.NCPU,
		Memory:            uint64(max(i.MemTotal, 0)),
		ContainersRunning: i.ContainersRunning,
		ContainersStopped: i.ContainersStopped,
		ContainersPaused:  i.ContainersPaused,
		Images:            i.Images,
		Time:              time.Now().UTC(),
	}, nil
}
