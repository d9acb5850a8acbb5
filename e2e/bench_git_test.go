package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"
	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
)

// BenchmarkGitPushToRunning measures a one-service change from the push to
// the new container running: through forge (a Gitea-style push webhook to a
// running daemon, which fetches, builds the changed service at the commit
// and brings the project up) against doing it by hand on the same change in
// another clone (`git pull`, then what `docker compose up -d --build web`
// does, through the compose SDK, as no compose CLI is installed here). The
// two alternate in one run, taking turns going first, as the second finds
// the change's layers in the build cache; the ratio is forge/by hand
// (target ≤ 1.10). Both times end at the engine's start event of the new
// web container.
func BenchmarkGitPushToRunning(b *testing.B) {
	s := newGitStack(b, "benchgit", serveGitDaemon)
	first := s.firstDeploy("web-0", "api-0")

	// The same project by hand: its own clone, its own compose project, and
	// a compose file without x-forge beside it, so the daemon leaves it be.
	hand := s.project + "-hand"
	handDir := filepath.Join(b.TempDir(), "hand")
	s.git(filepath.Dir(handDir), "clone", "-q", s.url, handDir)
	handCompose := filepath.Join(filepath.Dir(handDir), "hand-compose.yaml")
	plain := strings.SplitN(s.compose(), "services:", 2)[1]
	if err := os.WriteFile(handCompose, []byte("services:"+plain), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		out, _ := s.e.tryDocker("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference="+hand+"-*")
		if refs := strings.Fields(out); len(refs) > 0 {
			_, _ = s.e.tryDocker(append([]string{"rmi", "-f"}, refs...)...)
		}
	})
	s.e.cleanupProject(hand) // registered last: runs before the images go
	cli := dockerCLI(b)
	svc, err := compose.NewComposeService(cli, compose.WithStreams(io.Discard, io.Discard, strings.NewReader("")))
	if err != nil {
		b.Fatal(err)
	}
	var handUp time.Duration
	byHand := func(services ...string) {
		ctx := b.Context()
		pull := exec.Command("git", "-C", handDir, "pull", "-q", "--ff-only")
		if out, err := pull.CombinedOutput(); err != nil {
			b.Fatalf("git pull: %v\n%s", err, out)
		}
		p, err := svc.LoadProject(ctx, api.ProjectLoadOptions{ProjectName: hand, WorkingDir: handDir, ConfigPaths: []string{handCompose}})
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range services { // what --build does: build even if an image exists
			svc := p.Services[name]
			svc.PullPolicy = types.PullPolicyBuild
			p.Services[name] = svc
		}
		upStart := time.Now()
		defer func() { handUp += time.Since(upStart) }()
		err = svc.Up(ctx, p, api.UpOptions{
			Create: api.CreateOptions{Build: &api.BuildOptions{Services: services, Quiet: true}, Services: services, Recreate: api.RecreateDiverged, RecreateDependencies: api.RecreateNever, IgnoreOrphans: true},
			Start:  api.StartOptions{Project: p, Services: services},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	byHand() // the whole project, once
	handUp = 0

	// started watches the engine's events for the project's web container
	// starting, without polling the engine while forge works.
	started := func(ctx context.Context, project string) <-chan time.Time {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		res := cli.Client().Events(ctx, client.EventsListOptions{Filters: make(client.Filters).
			Add("type", "container").Add("event", "start").
			Add("label", forge.ComposeProjectLabel+"="+project).Add("label", forge.ComposeServiceLabel+"=web")})
		out := make(chan time.Time, 1)
		go func() {
			defer cancel()
			select {
			case <-res.Messages:
				out <- time.Now()
			case err := <-res.Err:
				b.Errorf("engine events: %v", err)
				close(out)
			}
		}()
		return out
	}

	var viaForge, viaHand time.Duration
	last := first.ID
	i := 0
	for b.Loop() {
		i++
		c := s.commit("main", map[string]string{"web/version": fmt.Sprintf("web-%d", i)})
		viaForgeOnce := func() {
			running := started(b.Context(), s.project)
			time.Sleep(50 * time.Millisecond) // the event stream is open
			start := time.Now()
			if code, body := s.hook("gitea", "main", c); code != 202 {
				b.Fatalf("push answered %d %s", code, body)
			}
			at, ok := <-running
			if !ok {
				b.FailNow()
			}
			viaForge += at.Sub(start)
			d := s.waitDeploy(last) // the health gate and the record, outside the timing
			if web, _ := d.Service("web"); d.Status != forge.StatusSucceeded || d.Commit != c || web.Image != s.project+"-web:"+c[:12] {
				b.Fatalf("deploy %+v", d)
			}
			last = d.ID
		}
		viaHandOnce := func() {
			running := started(b.Context(), hand)
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			byHand("web")
			at, ok := <-running
			if !ok {
				b.FailNow()
			}
			viaHand += at.Sub(start)
		}
		// Whichever builds the change second finds its layers in the
		// engine's build cache: take turns going first.
		if i%2 == 0 {
			viaForgeOnce()
			viaHandOnce()
		} else {
			viaHandOnce()
			viaForgeOnce()
		}
	}
	b.ReportMetric(float64(viaForge)/float64(viaHand), "forge/by-hand")
	b.ReportMetric(float64(viaForge.Milliseconds())/float64(i), "forge-ms")
	b.ReportMetric(float64(viaHand.Milliseconds())/float64(i), "by-hand-ms")
	b.ReportMetric(float64(handUp.Milliseconds())/float64(i), "by-hand-up-ms")
}
