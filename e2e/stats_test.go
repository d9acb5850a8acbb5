package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

// TestStatsOfTwoProjects runs two compose projects, one with a busy loop
// held to a quarter of a CPU, under a daemon that samples every second,
// and reads what `docker forge stats`, `top` and /metrics say of them.
func TestStatsOfTwoProjects(t *testing.T) {
	s := newPushStack(t, "stats", false, "--stats-schedule", "@every 1s")
	e := s.e
	e.importImage(s.ref, "1")
	e.push(s.ref)
	busyProject, quietProject := s.project, randomName("forge-e2e-stats-quiet-")
	e.cleanupProject(quietProject)
	deploy := func(project, compose string) {
		t.Helper()
		var d forge.Deploy
		e.forgeJSON(&d, "deploy", "-f", writeCompose(t, compose), "-p", project)
		if d.Status != forge.StatusSucceeded {
			t.Fatalf("deploy %s: %+v", project, d)
		}
	}
	deploy(busyProject, fmt.Sprintf(`services:
  busy:
    image: %[1]s
    init: true
    cpus: 0.25
    command: ["sh", "-c", "while :; do :; done"]
    labels: {forge.enable: "true", forge.settle: "200ms"}
  idle:
    image: %[1]s
    init: true
    command: ["sleep", "3600"]
    labels: {forge.enable: "true", forge.settle: "200ms"}
`, s.ref))
	deploy(quietProject, fmt.Sprintf(`services:
  idle:
    image: %s
    init: true
    mem_limit: 64m
    command: ["sleep", "3600"]
    labels: {forge.enable: "true", forge.settle: "200ms"}
`, s.ref))

	// Wait for a few samples of both.
	var series []forge.StatSeries
	deadline := time.Now().Add(30 * time.Second)
	for {
		e.forgeJSON(&series, "stats", busyProject, "--window", "5m")
		if busy := find(series, "busy"); busy != nil && len(busy.Points) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 5 samples of %s/busy in 30 s: %+v\ndaemon log:\n%s", busyProject, series, s.d.Log())
		}
		time.Sleep(500 * time.Millisecond)
	}
	busy, idle, total := find(series, "busy"), find(series, "idle"), find(series, "")
	if busy == nil || idle == nil || total == nil {
		t.Fatalf("series of %s: %+v; want busy, idle and the total", busyProject, series)
	}
	var sum float64
	pts := busy.Points[len(busy.Points)-4:]
	for _, p := range pts {
		sum += p.CPU
		if p.CPU < 10 || p.CPU > 40 {
			t.Errorf("busy loop under cpus: 0.25 sampled at %.1f%% CPU at %s; want about 25%%", p.CPU, p.Time)
		}
	}
	if avg := sum / float64(len(pts)); avg < 18 || avg > 32 {
		t.Errorf("busy loop under cpus: 0.25 averages %.1f%% CPU over 4 samples; want 25%% ± 7", avg)
	}
	if c := idle.Current; c == nil || c.CPU > 5 || c.Memory == 0 || c.PIDs == 0 {
		t.Errorf("idle service: %+v; want under 5%% CPU, some memory and processes", idle.Current)
	}
	if c := total.Current; c == nil || c.Containers != 2 || c.Memory != busy.Current.Memory+idle.Current.Memory {
		t.Errorf("project total %+v is not busy %+v + idle %+v", total.Current, busy.Current, idle.Current)
	}

	var quiet []forge.StatSeries
	e.forgeJSON(&quiet, "stats", quietProject, "--service", "idle")
	if len(quiet) != 1 || quiet[0].Current == nil || quiet[0].Current.MemoryLimit != 64<<20 {
		t.Errorf("%s/idle: %+v; want its 64 MiB limit", quietProject, quiet)
	}
	var all []forge.StatSeries
	e.forgeJSON(&all, "stats")
	if find(byProject(all), busyProject) == nil || find(byProject(all), quietProject) == nil {
		t.Errorf("docker forge stats lists %d projects, not both of ours", len(all))
	}

	// Other containers on this engine may be busy too: ours must be in
	// order among themselves.
	rank := func(by string) map[string]int {
		var top []forge.TopEntry
		e.forgeJSON(&top, "top", "--by", by, "--limit", "50")
		out := map[string]int{}
		for i, x := range top {
			out[x.Name] = i + 1
		}
		return out
	}
	cpu := rank("cpu")
	if b, i := cpu[busyProject+"/busy"], cpu[busyProject+"/idle"]; b == 0 || i == 0 || b > i {
		t.Errorf("top by CPU ranks %s/busy %d and idle %d; want busy above idle (0: missing)", busyProject, b, i)
	}
	var host forge.HostStats
	e.forgeJSON(&host, "stats", "--system")
	if host.CPUs < 1 || host.ContainersRunning < 3 || host.EngineVersion == "" || host.Memory == 0 {
		t.Errorf("host: %+v", host)
	}

	// The table a person reads.
	out := e.docker("forge", "stats", busyProject)
	for _, want := range []string{"SERVICE", "(total)", "busy", "idle", "CPU (2h)"} {
		if !strings.Contains(out, want) {
			t.Errorf("docker forge stats %s does not show %q:\n%s", busyProject, want, out)
		}
	}
	if _, err := e.tryDocker("forge", "stats", randomName("forge-e2e-nobody-")); err == nil {
		t.Error("stats of a project nobody has seen succeeded")
	}

	resp, err := http.Get("http://" + s.d.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		// Each engine's series carry its name.
		fmt.Sprintf(`forge_service_cpu_percent{engine="default",project=%q,service="busy"}`, busyProject),
		fmt.Sprintf(`forge_deploys_total{engine="default",project=%q,status="succeeded"} 1`, quietProject),
		"forge_collector_run_duration_seconds_count",
		"forge_deploy_duration_seconds_bucket",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func find(series []forge.StatSeries, service string) *forge.StatSeries {
	for i := range series {
		if series[i].Service == service {
			return &series[i]
		}
	}
	return nil
}

// byProject keys project totals by project name, for find.
func byProject(series []forge.StatSeries) []forge.StatSeries {
	out := make([]forge.StatSeries, len(series))
	for i, s := range series {
		s.Service = s.Project
		out[i] = s
	}
	return out
}
