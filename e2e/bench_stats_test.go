package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/collector"
	"github.com/docker-forge/docker-forge/engine"
	"github.com/docker-forge/docker-forge/ledger"
)

// oneProject is the engine seen through one compose project, so the
// collector samples the benchmark's containers only, as docker stats does.
type oneProject struct {
	*engine.Engine
	project string
}

func (o oneProject) StatsTargets(ctx context.Context) ([]forge.ContainerSample, error) {
	all, err := o.Engine.StatsTargets(ctx)
	out := all[:0]
	for _, t := range all {
		if t.Project == o.project {
			out = append(out, t)
		}
	}
	return out, err
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCollectorRun compares one collector run over 20 and over 100
// compose containers with `docker stats --no-stream` on the same containers,
// alternating in one run: wall time as a ratio, and CPU time per container
// (forge's own process; the docker CLI's). "cold" is the first run, which
// reads every container with the engine's earlier reading as docker stats
// does; the later runs read each container once and compare with forge's
// reading of the run before. Targets: wall ≤ 1.0× docker stats, forge's CPU
// under 1 ms per container.
func BenchmarkCollectorRun(b *testing.B) {
	for _, n := range []int{20, 100} {
		if benchSmoke() && n > 20 {
			continue
		}
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			e := newEnv(b, "")
			project := randomName("forge-bench-stats-")
			e.cleanupProject(project)
			image := project + "/idle:1"
			e.importImage(image, "1")
			ids := make([]string, n)
			for i := range n {
				ids[i] = strings.TrimSpace(e.docker("create", "--init",
					"--label", forge.ComposeProjectLabel+"="+project,
					"--label", fmt.Sprintf("%s=s%03d", forge.ComposeServiceLabel, i),
					image, "sleep", "3600"))
			}
			e.docker(append([]string{"start"}, ids...)...)

			cli := dockerCLI(b)
			eng, err := engine.New(cli, nil)
			if err != nil {
				b.Fatal(err)
			}
			led, err := ledger.Open(filepath.Join(b.TempDir(), "forge.db"), ledger.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = led.Close() })
			c, err := collector.New(collector.Config{Engine: oneProject{eng, project}, Ledger: led, ErrNotRunning: engine.ErrNotRunning})
			if err != nil {
				b.Fatal(err)
			}
			collect := func() (wall, cpu time.Duration) {
				cpu0, start := cpuTime(), time.Now()
				res, err := c.Collect(b.Context())
				wall, cpu = time.Since(start), cpuTime()-cpu0
				if err != nil || res.Sampled != n {
					b.Fatalf("collect: %+v, %v", res, err)
				}
				return wall, cpu
			}
			dockerStats := func() (wall, cpu time.Duration) {
				cmd := exec.Command("docker", append([]string{"stats", "--no-stream", "--no-trunc"}, ids...)...)
				cmd.Env = e.environ()
				start := time.Now()
				out, err := cmd.Output()
				wall = time.Since(start)
				if err != nil || strings.Count(string(out), "\n") != n+1 {
					b.Fatalf("docker stats: %v\n%s", err, out)
				}
				return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			coldWall, coldCPU := collect()
			dsColdWall, _ := dockerStats()
			var fw, fc, dw, dc time.Duration
			for b.Loop() {
				w, c := collect()
				fw, fc = fw+w, fc+c
				w, c = dockerStats()
				dw, dc = dw+w, dc+c
			}
			runs := time.Duration(b.N)
			b.ReportMetric(float64(fw)/float64(dw), "wall-ratio")
			b.ReportMetric(float64(coldWall)/float64(dsColdWall), "cold-wall-ratio")
			b.ReportMetric(float64(fw/runs)/1e6, "forge-wall-ms")
			b.ReportMetric(float64(dw/runs)/1e6, "docker-stats-wall-ms")
			b.ReportMetric(float64(fc/runs)/1e6/float64(n), "forge-cpu-ms/container")
			b.ReportMetric(float64(coldCPU)/1e6/float64(n), "forge-cold-cpu-ms/container")
			b.ReportMetric(float64(dc/runs)/1e6/float64(n), "docker-stats-cpu-ms/container")
		})
	}
}
