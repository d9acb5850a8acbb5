package collector

import (
	"sort"
	"time"

	"github.com/docker-forge/docker-forge"
)

// reading is a container sample with its CPU percentage worked out.
type reading struct {
	forge.ContainerSample
	CPU float64
}

// cpuPercent computes a container's CPU use as docker stats does: the
// container's CPU time over the host's between two readings, times the
// online CPUs, in percent (100 is one full CPU). The earlier reading is the
// engine's own when it took one, else prev, forge's reading of the run
// before. ok is false when neither is usable: no earlier reading, or
// counters that went back (the container restarted).
func cpuPercent(prev *forge.ContainerSample, cur forge.ContainerSample) (pct float64, ok bool) {
	preCPU, preSys := cur.PreCPUTotal, cur.PreSystemTotal
	if preSys == 0 {
		if prev == nil {
			return 0, false
		}
		preCPU, preSys = prev.CPUTotal, prev.SystemTotal
	}
	if cur.CPUTotal < preCPU || cur.SystemTotal <= preSys {
		return 0, false
	}
	cpus := float64(cur.OnlineCPUs)
	if cpus == 0 {
		cpus = 1
	}
	return float64(cur.CPUTotal-preCPU) / float64(cur.SystemTotal-preSys) * cpus * 100, true
}

// aggregate sums one run's readings at time t, per service and per project
// (the series with an empty service): CPU, memory, network, I/O and pids are
// sums; the memory limit is the largest, 0 (unlimited) when any container
// has none. A service without readings gets no point at all, not zeros, and
// so do the services in failed and their projects' totals, whose sums would
// be short of a container.
func aggregate(t time.Time, readings []reading, failed map[[2]string]bool) []forge.StatSeries {
	short := map[string]bool{}
	for k := range failed {
		short[k[0]] = true
	}
	type key struct{ project, service string }
	points := map[key]*forge.StatPoint{}
	add := func(k key, r reading) {
		p := points[k]
		if p == nil {
			p = &forge.StatPoint{Time: t, Samples: 1, MemoryLimit: r.MemoryLimit}
			points[k] = p
		} else {
			p.MemoryLimit = largestLimit(p.MemoryLimit, r.MemoryLimit)
		}
		p.CPU += r.CPU
		p.Memory += r.Memory
		p.NetRx += r.NetRx
		p.NetTx += r.NetTx
		p.BlockRead += r.BlockRead
		p.BlockWrite += r.BlockWrite
		p.PIDs += r.PIDs
		p.Containers++
	}
	for _, r := range readings {
		if !failed[[2]string{r.Project, r.Service}] {
			add(key{r.Project, r.Service}, r)
		}
		if !short[r.Project] {
			add(key{r.Project, ""}, r)
		}
	}
	out := make([]forge.StatSeries, 0, len(points))
	for k, p := range points {
		p.CPUMax, p.MemoryMax = p.CPU, p.Memory
		out = append(out, forge.StatSeries{Project: k.project, Service: k.service, Points: []forge.StatPoint{*p}})
	}
	sortSeries(out)
	return out
}

// largestLimit is the larger memory limit, where 0 means unlimited and so
// is the largest of all.
func largestLimit(a, b uint64) uint64 {
	if a == 0 || b == 0 {
		return 0
	}
	return max(a, b)
}

func sortSeries(s []forge.StatSeries) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Project != s[j].Project {
			return s[i].Project < s[j].Project
		}
		return s[i].Service < s[j].Service
	})
}
