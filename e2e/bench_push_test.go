package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"
	mcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
)

// BenchmarkPushToRunning measures what a user waits for: from `docker
// push` returning to the service's new container running the pushed
// digest (the engine's start event), for a one-service project of a 2 MB
// image, through the registry's own notification into the daemon. In one
// run, taking turns each push:
//   - forge, as compose does it (stop the old container, then start the new);
//   - forge with deploy.update_config.order: start-first;
//   - the engine's own floor: create and start a container of the new image
//     on the project's network, as a compose service's, and stop one (the
//     two steps any stop-first update takes);
//   - watchtower, when FORGE_BENCH_WATCHTOWER names its binary, updating a
//     compose service of its own (brought up by the compose SDK, by tag),
//     triggered through its HTTP API right after the push returns (no
//     watchtower is built here: see BENCHMARKS.md for how it was measured).
//
// It reports medians, the spread, and forge's deploy phases.
func BenchmarkPushToRunning(b *testing.B) {
	st := newPushStack(b, "p2r", true)
	e := st.e
	type side struct {
		name, ref, project string
		events             *eventLog
		took               []time.Duration
		phases             []forge.Phases
	}
	newSide := func(name, order string) *side {
		s := &side{name: name, project: randomName("forge-bench-p2r-")}
		s.ref = st.regAddr + "/" + s.project + "/app:live"
		e.cleanupProject(s.project)
		e.importImage(s.ref, "v0")
		e.push(s.ref)
		var d forge.Deploy
		e.forgeJSON(&d, "deploy", "-f", writeCompose(b, fmt.Sprintf(`services:
  web:
    image: %s
    init: true
    labels: {forge.enable: "true", forge.settle: "200ms"}
%s`, s.ref, order)), "-p", s.project)
		if d.Status != forge.StatusSucceeded {
			b.Fatalf("first deploy of %s = %+v", name, d)
		}
		s.events = watchEvents(b, s.project)
		return s
	}
	stopFirst := newSide("forge", "")
	startFirst := newSide("forge start-first", "    deploy: {update_config: {order: start-first}}\n")
	wt := startWatchtower(b, e, st.regAddr)
	cli := dockerCLI(b).Client()

	var floorRun, floorStop []time.Duration
	n := 0
	for b.Loop() {
		n++
		for _, s := range []*side{stopFirst, startFirst} {
			e.importImage(s.ref, fmt.Sprintf("v%d", n))
			before := time.Now()
			digest := e.push(s.ref)
			pushed := time.Now()
			// The registry notifies on the manifest's upload, before push
			// returns: a start in between counts, as a time below zero.
			started := waitStart(b, s.events, before, digest)
			s.took = append(s.took, started.Sub(pushed))
			d := e.waitFor(s.project, func(h []forge.Deploy) bool {
				w, _ := h[0].Service("web")
				return w.Digest == digest
			})[0]
			if d.Status != forge.StatusSucceeded {
				b.Fatalf("%s deploy = %+v", s.name, d)
			}
			s.phases = append(s.phases, d.Phases)
		}
		if wt != nil {
			wt.update(b, n)
		}
		// The floor: the new image's container created and started, and one
		// stopped, through the engine's API.
		t0 := time.Now()
		init := true
		c, err := cli.ContainerCreate(b.Context(), client.ContainerCreateOptions{Config: &mcontainer.Config{Image: stopFirst.ref, Cmd: []string{"sleep", "1000"}},
			HostConfig:       &mcontainer.HostConfig{Init: &init},
			NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{stopFirst.project + "_default": {}}}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cli.ContainerStart(b.Context(), c.ID, client.ContainerStartOptions{}); err != nil {
			b.Fatal(err)
		}
		floorRun = append(floorRun, time.Since(t0))
		t0 = time.Now()
		if _, err := cli.ContainerStop(b.Context(), c.ID, client.ContainerStopOptions{}); err != nil {
			b.Fatal(err)
		}
		floorStop = append(floorStop, time.Since(t0))
		_, _ = cli.ContainerRemove(b.Context(), c.ID, client.ContainerRemoveOptions{Force: true})
	}

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	forgeMed, startMed := median(stopFirst.took), median(startFirst.took)
	b.ReportMetric(ms(forgeMed), "forge-ms")
	b.ReportMetric(ms(slices.Min(stopFirst.took)), "forge-min-ms")
	b.ReportMetric(ms(slices.Max(stopFirst.took)), "forge-max-ms")
	b.ReportMetric(ms(startMed), "start-first-ms")
	b.ReportMetric(ms(slices.Min(startFirst.took)), "start-first-min-ms")
	b.ReportMetric(ms(slices.Max(startFirst.took)), "start-first-max-ms")
	run, stop := median(floorRun), median(floorStop)
	b.ReportMetric(ms(run), "floor-run-ms")
	b.ReportMetric(ms(stop), "floor-stop-ms")
	b.ReportMetric(ms(forgeMed-run-stop), "forge-over-floor-ms")
	b.ReportMetric(ms(startMed-run), "start-first-over-floor-ms")
	if wt != nil {
		wtMed := median(wt.took)
		b.ReportMetric(ms(wtMed), "watchtower-ms")
		b.ReportMetric(float64(forgeMed)/float64(wtMed), "forge/watchtower")
		b.ReportMetric(float64(startMed)/float64(wtMed), "start-first/watchtower")
	}
	for _, s := range []*side{stopFirst, startFirst} {
		var parts []string
		for _, name := range forge.PhaseNames {
			var ds []time.Duration
			for _, p := range s.phases {
				p.Each(func(n string, d time.Duration) {
					if n == name {
						ds = append(ds, d)
					}
				})
			}
			parts = append(parts, fmt.Sprintf("%s %s", name, median(ds).Round(time.Millisecond)))
		}
		b.Logf("%s phases (medians over %d pushes): %s", s.name, len(s.phases), strings.Join(parts, ", "))
	}
}

// waitStart waits for the first start event after t of a container whose
// image names digest (any, when digest is empty).
func waitStart(tb testing.TB, l *eventLog, after time.Time, digest string) time.Time {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range l.all() {
			if ev.action == "start" && ev.at.After(after) && strings.Contains(ev.image, digest) {
				return ev.at
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	tb.Fatalf("no container started within 30 s of the push")
	return time.Time{}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// watchtower is the maintained watchtower fork, run against the same engine
// and registry, for one labelled container of its own.
type watchtower struct {
	e      *env
	ref    string
	api    string
	token  string
	events *eventLog
	took   []time.Duration
}

// startWatchtower runs the binary FORGE_BENCH_WATCHTOWER names (nil when
// unset), watching only containers labelled for it.
func startWatchtower(tb testing.TB, e *env, regAddr string) *watchtower {
	tb.Helper()
	bin := os.Getenv("FORGE_BENCH_WATCHTOWER")
	if bin == "" {
		tb.Log("FORGE_BENCH_WATCHTOWER unset: no watchtower in this run")
		return nil
	}
	project := randomName("forge-bench-wt-")
	w := &watchtower{e: e, ref: regAddr + "/" + project + "/app:live", token: randomName("wt-token-"),
		api: fmt.Sprintf("127.0.0.1:%d", freePort(tb))}
	e.importImage(w.ref, "v0")
	e.push(w.ref)
	// A compose service, as forge's are (its own network and all), brought
	// up by the compose SDK with its image by tag, as watchtower needs it.
	e.cleanupProject(project)
	path := writeCompose(tb, fmt.Sprintf(`services:
  web:
    image: %s
    init: true
    labels: {com.centurylinklabs.watchtower.enable: "true"}
`, w.ref))
	svc, err := compose.NewComposeService(dockerCLI(tb), compose.WithStreams(io.Discard, io.Discard, strings.NewReader("")))
	if err != nil {
		tb.Fatal(err)
	}
	p, err := svc.LoadProject(tb.Context(), api.ProjectLoadOptions{ProjectName: project, ConfigPaths: []string{path}, WorkingDir: filepath.Dir(path)})
	if err != nil {
		tb.Fatal(err)
	}
	if err := svc.Up(tb.Context(), p, api.UpOptions{Start: api.StartOptions{Project: p}}); err != nil {
		tb.Fatal(err)
	}
	w.events = watchEvents(tb, project)
	_, port, _ := strings.Cut(w.api, ":")
	cmd := exec.Command(bin, "--http-api-update", "--http-api-token", w.token, "--http-api-host", "127.0.0.1", "--http-api-port", port,
		"--label-enable", "--cleanup=false", "--registry-tls-skip")
	cmd.Env = append(e.environ(), "WATCHTOWER_REGISTRY_TLS_SKIP=true")
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + w.api + "/v1/update")
		if err == nil {
			resp.Body.Close()
			return w
		}
		if time.Now().After(deadline) {
			tb.Fatalf("watchtower did not answer on %s: %v", w.api, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// update pushes version n and asks watchtower to update, as soon as the
// push returns, then waits for the new container's start.
func (w *watchtower) update(tb testing.TB, n int) {
	tb.Helper()
	w.e.importImage(w.ref, fmt.Sprintf("v%d", n))
	before := time.Now()
	w.e.push(w.ref)
	pushed := time.Now()
	req, _ := http.NewRequest(http.MethodPost, "http://"+w.api+"/v1/update", nil)
	req.Header.Set("Authorization", "Bearer "+w.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		tb.Fatalf("watchtower update: %s", resp.Status)
	}
	w.took = append(w.took, waitStart(tb, w.events, before, "").Sub(pushed))
}
