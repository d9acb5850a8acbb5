package collector

import (
	"time"

	"github.com/docker-forge/docker-forge"
)

// rollup merges points into one that stands for the period starting at t:
// values are averages weighted by how many raw samples each point holds,
// CPUMax and MemoryMax the maxima, the memory limit the largest.
func rollup(t time.Time, points []forge.StatPoint) forge.StatPoint {
	out := forge.StatPoint{Time: t}
	if len(points) == 0 {
		return out
	}
	var n, cpu, mem, rx, tx, br, bw, pids, ctrs float64
	out.MemoryLimit = points[0].MemoryLimit
	for _, p := range points {
		w := float64(max(p.Samples, 1))
		n += w
		cpu += p.CPU * w
		mem += float64(p.Memory) * w
		rx += float64(p.NetRx) * w
		tx += float64(p.NetTx) * w
		br += float64(p.BlockRead) * w
		bw += float64(p.BlockWrite) * w
		pids += float64(p.PIDs) * w
		ctrs += float64(p.Containers) * w
		out.CPUMax = max(out.CPUMax, p.CPUMax, p.CPU)
		out.MemoryMax = max(out.MemoryMax, p.MemoryMax, p.Memory)
		out.MemoryLimit = largestLimit(out.MemoryLimit, p.MemoryLimit)
	}
	out.CPU = cpu / n
	out.Memory = uint64(mem/n + 0.5)
	out.NetRx, out.NetTx = uint64(rx/n+0.5), uint64(tx/n+0.5)
	out.BlockRead, out.BlockWrite = uint64(br/n+0.5), uint64(bw/n+0.5)
	out.PIDs = uint64(pids/n + 0.5)
	out.Containers = uint32(ctrs/n + 0.5)
	out.Samples = uint32(n)
	return out
}

// downsample groups time-ordered points into periods of step aligned to the
// Unix epoch, and rolls each period up. Periods without points are left
// out: a gap stays a gap.
func downsample(points []forge.StatPoint, step time.Duration) []forge.StatPoint {
	var out []forge.StatPoint
	for i := 0; i < len(points); {
		start := points[i].Time.Truncate(step)
		j := i + 1
		for j < len(points) && points[j].Time.Truncate(step).Equal(start) {
			j++
		}
		out = append(out, rollup(start, points[i:j]))
		i = j
	}
	return out
}
