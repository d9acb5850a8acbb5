package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"
	"github.com/gorilla/mux"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/engine"
	"github.com/docker-forge/docker-forge/ledger"
	"github.com/docker-forge/docker-forge/webhook"
)

// benchStack is a running two-service project whose web service can be
// flipped between two pushed digests, by forge and by the bare compose SDK.
type benchStack struct {
	e       *env
	ref     forge.ProjectRef
	repo    string
	d1, d2  string
	disp    *dispatch.Dispatcher
	compose api.Compose
}

func newBenchStack(b *testing.B) *benchStack {
	return newBenchStackWith(b, `labels: {forge.enable: "true", forge.settle: "0s"}`)
}

// newBenchStackWith builds the stack with web's extra compose lines (its
// labels, a healthcheck).
func newBenchStackWith(b *testing.B, web string) *benchStack {
	b.Helper()
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	e := newEnv(b, "")
	startRegistry(b, regAddr, "http://127.0.0.1:9/unused", "unused")
	project := randomName("forge-bench-")
	repo := regAddr + "/" + project + "/app"
	tag := repo + ":live"
	e.cleanupProject(project)
	e.importImage(tag, "v1")
	d1 := e.push(tag)
	e.importImage(tag, "v2")
	d2 := e.push(tag) // the tag stays on v2: a forge deploy always moves web to v2
	path := writeCompose(b, fmt.Sprintf(`services:
  web:
    image: %[1]s
    init: true
    %[2]s
  side:
    image: %[1]s
    init: true
`, tag, web))

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
	svc, err := compose.NewComposeService(cli, compose.WithStreams(io.Discard, io.Discard, strings.NewReader("")))
	if err != nil {
		b.Fatal(err)
	}
	watchCtx, stopWatch := context.WithCancel(b.Context())
	b.Cleanup(stopWatch)
	go func() { _ = eng.Watch(watchCtx) }() // as serve does
	s := &benchStack{
		e: e, repo: repo, d1: d1, d2: d2, compose: svc,
		ref:  forge.ProjectRef{Name: project, ConfigFiles: []string{path}, WorkingDir: filepath.Dir(path)},
		disp: dispatch.New(dispatch.Config{Engine: eng, Ledger: led}),
	}
	if _, err := eng.Up(b.Context(), forge.UpRequest{Ref: s.ref, Pins: map[string]string{"web": repo + "@" + d1}, Whole: true}); err != nil {
		b.Fatal(err)
	}
	return s
}

// forgeDeploy moves web to the tag's digest (v2) the way `docker forge
// deploy PROJECT web` does: resolve, pin, up, read back, record.
func (s *benchStack) forgeDeploy(b *testing.B) {
	d, err := s.disp.Deploy(b.Context(), dispatch.Request{Ref: s.ref, Services: []string{"web"}})
	if err != nil {
		b.Fatal(err)
	}
	if w, _ := d.Service("web"); w.Digest != s.d2 || !w.Changed {
		b.Fatalf("forge deploy did not move web to v2: %+v", w)
	}
}

// bareUp moves web back to v1 by hand through the compose SDK: load the
// project narrowed to web, pin its image, Up.
func (s *benchStack) bareUp(b *testing.B) {
	ctx := b.Context()
	p, err := s.compose.LoadProject(ctx, api.ProjectLoadOptions{
		ProjectName: s.ref.Name, ConfigPaths: s.ref.ConfigFiles, WorkingDir: s.ref.WorkingDir, Services: []string{"web"},
	})
	if err != nil {
		b.Fatal(err)
	}
	web := p.Services["web"]
	web.Image = s.repo + "@" + s.d1
	p.Services["web"] = web
	err = s.compose.Up(ctx, p, api.UpOptions{
		Create: api.CreateOptions{Services: []string{"web"}, Recreate: api.RecreateDiverged, RecreateDependencies: api.RecreateNever, IgnoreOrphans: true},
		Start:  api.StartOptions{Project: p, Services: []string{"web"}},
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDeployOverhead measures a forge deploy of one service against the
// same pinned change done by hand through the compose SDK, alternating in one
// run, and reports forge/bare (target ≤ 1.10).
func BenchmarkDeployOverhead(b *testing.B) {
	s := newBenchStack(b)
	var forgeTime, bareTime time.Duration
	for b.Loop() {
		t0 := time.Now()
		s.forgeDeploy(b)
		forgeTime += time.Since(t0)
		t1 := time.Now()
		s.bareUp(b)
		bareTime += time.Since(t1)
	}
	b.ReportMetric(float64(forgeTime.Milliseconds())/float64(b.N), "forge-ms/deploy")
	b.ReportMetric(float64(bareTime.Milliseconds())/float64(b.N), "sdk-ms/up")
	b.ReportMetric(float64(forgeTime)/float64(bareTime), "forge/sdk")
}

// BenchmarkAckLatencyDuringDeploy sends signed generic webhooks to the real
// listener (matching them against every compose project on the engine) while
// deploys of the stack run back to back, and reports the p50 and p99 time to
// the answer (target p99 < 10 ms).
func BenchmarkAckLatencyDuringDeploy(b *testing.B) {
	s := newBenchStack(b)
	const secret = "bench-secret"
	hooks, err := webhook.New(webhook.Config{Secret: secret, Dispatcher: s.disp})
	if err != nil {
		b.Fatal(err)
	}
	r := mux.NewRouter()
	hooks.Register(r)
	srv := httptest.NewServer(r)
	defer srv.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	deploys := 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.forgeDeploy(b)
			s.bareUp(b)
			deploys += 2
		}
	})
	// A push of an image no service uses: the full ack path (auth, parse,
	// discovery, compose model loading, matching) without queueing deploys
	// that would pile up behind the running ones.
	body := []byte(`{"image":"127.0.0.1:5000/nobody/uses-this","tag":"v1"}`)
	sig := "sha256=" + hex.EncodeToString(webhook.Sign(body, secret))
	var lat []time.Duration
	for b.Loop() {
		for range 20 {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/generic", strings.NewReader(string(body)))
			req.Header.Set("X-Forge-Signature-256", sig)
			t0 := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat = append(lat, time.Since(t0))
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(lat)), "acks")
	b.ReportMetric(float64(deploys), "deploys-during")
}

// BenchmarkHealthGateOverhead compares a forge deploy whose service has a
// healthcheck that passes at its first run (every 200ms) with the same
// deploy of a service without one and no settle period (the gate passes at
// its first look), alternating in one run, and reports gated/ungated.
func BenchmarkHealthGateOverhead(b *testing.B) {
	gated := newBenchStackWith(b, `labels: {forge.enable: "true"}
    healthcheck: {test: ["CMD", "/bin/sh", "-c", "true"], interval: 200ms, timeout: 1s, retries: 3}`)
	ungated := newBenchStack(b)
	var gatedTime, ungatedTime time.Duration
	for b.Loop() {
		t0 := time.Now()
		gated.forgeDeploy(b)
		gatedTime += time.Since(t0)
		gated.bareUp(b)
		t1 := time.Now()
		ungated.forgeDeploy(b)
		ungatedTime += time.Since(t1)
		ungated.bareUp(b)
	}
	b.ReportMetric(float64(gatedTime.Milliseconds())/float64(b.N), "gated-ms/deploy")
	b.ReportMetric(float64(ungatedTime.Milliseconds())/float64(b.N), "ungated-ms/deploy")
	b.ReportMetric(float64(gatedTime)/float64(ungatedTime), "gated/ungated")
}
