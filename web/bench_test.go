package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/auth"
	"github.com/docker-forge/docker-forge/collector"
	"github.com/docker-forge/docker-forge/ledger"
)

// benchEngine is an engine of n running projects of three services each,
// answering at once: what the page costs beyond the engine's own answers.
type benchEngine struct{ n int }

func (e benchEngine) Projects(context.Context) ([]forge.ProjectRef, error) {
	var out []forge.ProjectRef
	for i := range e.n {
		name := fmt.Sprintf("project%02d", i)
		out = append(out, forge.ProjectRef{Name: name, WorkingDir: "/srv/" + name, ConfigFiles: []string{"/srv/" + name + "/compose.yaml"}})
	}
	return out, nil
}

func (e benchEngine) LoadProject(_ context.Context, ref forge.ProjectRef) (forge.Project, error) {
	p := forge.Project{Ref: ref}
	for _, s := range []string{"web", "api", "db"} {
		p.Services = append(p.Services, forge.Service{Name: s, Image: "registry.test/" + ref.Name + "/" + s + ":live", Labels: map[string]string{forge.LabelEnable: "true"}})
	}
	return p, nil
}

func (e benchEngine) Running(_ context.Context, project string) (map[string]forge.Running, error) {
	out := map[string]forge.Running{}
	for _, s := range []string{"web", "api", "db"} {
		out[s] = forge.Running{Service: s, ContainerID: project + s, Digest: dg("b"), State: "running"}
	}
	return out, nil
}

func (benchEngine) Host(context.Context) (forge.HostStats, error) {
	return forge.HostStats{CPUs: 2}, nil
}
func (benchEngine) Logs(context.Context, string, string, int, bool, io.Writer) error {
	return nil
}

// fillHistory stores, per project, 30 days of hourly rollups, 48 hours of
// 1-minute ones and 2 hours of 15-second samples for each service and the
// total, and 100 deploys (the default --keep).
func fillHistory(b *testing.B, led *ledger.Ledger, projects int, now time.Time) {
	b.Helper()
	tiers := []struct {
		name  string
		step  time.Duration
		count int
	}{{collector.TierRaw, 15 * time.Second, 480}, {collector.TierMinute, time.Minute, 48 * 60}, {collector.TierHour, time.Hour, 30 * 24}}
	for p := range projects {
		project := fmt.Sprintf("project%02d", p)
		for _, tier := range tiers {
			var series []forge.StatSeries
			for _, svc := range []string{"web", "api", "db", ""} {
				s := forge.StatSeries{Project: project, Service: svc}
				for i := range tier.count {
					at := now.Add(-time.Duration(tier.count-i) * tier.step).Truncate(tier.step)
					s.Points = append(s.Points, forge.StatPoint{Time: at, CPU: float64(i % 90), Memory: uint64(100+i%50) << 20, NetRx: uint64(i) << 10, Containers: 1, Samples: 1})
				}
				series = append(series, s)
			}
			if err := led.WriteStats(ledger.StatsWrite{Series: map[string][]forge.StatSeries{tier.name: series}}); err != nil {
				b.Fatal(err)
			}
		}
		for i := range 100 {
			d := forge.Deploy{Project: project, Reason: forge.ReasonPush, Status: forge.StatusSucceeded, Queued: now.Add(-time.Duration(100-i) * time.Hour),
				Trigger:  forge.Trigger{Provider: "distribution", Delivery: fmt.Sprint(i)},
				Services: []forge.ServiceDeploy{{Service: "web", Image: "registry.test/" + project + "/web:live", Previous: dg("a"), Digest: dg("b"), Changed: true, Why: []string{forge.WhyDigest}}}}
			d.Started, d.Finished = d.Queued, d.Queued.Add(time.Second)
			if err := led.Create(&d); err != nil {
				b.Fatal(err)
			}
		}
		if err := led.SaveProject(forge.ProjectRef{Name: project, WorkingDir: "/srv/" + project}, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstPage serves the projects page (and a project's page) of 50
// projects with 30 days of history in a real ledger, signed in, as serve
// does; it reports the median and the 99th percentile. Goal: first page
// under 200 ms on loopback.
func BenchmarkFirstPage(b *testing.B) {
	now := time.Now()
	led, err := ledger.Open(filepath.Join(b.TempDir(), "forge.db"), ledger.Options{Timeout: time.Second, Keep: 100})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = led.Close() })
	fillHistory(b, led, 50, now) // the collector's default 15 s interval is assumed when none is saved
	local := &api.Local{Ledger: led, Engine: benchEngine{n: 50}}
	secret, hash := auth.NewToken()
	if err := led.CreateToken(forge.Token{Name: "bench", Role: forge.RoleAdmin, Hash: hash}); err != nil {
		b.Fatal(err)
	}
	authn := auth.New(auth.Config{Tokens: led})
	s, err := New(Config{Backend: local, Auth: authn})
	if err != nil {
		b.Fatal(err)
	}
	r := mux.NewRouter()
	s.Register(r)
	srv := httptest.NewServer(r)
	b.Cleanup(srv.Close)
	sess, err := authn.SignIn(httptest.NewRequest(http.MethodPost, "/signin", nil), secret)
	if err != nil {
		b.Fatal(err)
	}
	for _, page := range []string{"/", "/projects/project07", "/projects/project07?window=30d", "/system?window=30d"} {
		b.Run(strings.ReplaceAll(strings.TrimPrefix(page, "/"), "/", "_"), func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, srv.URL+page, nil)
				req.AddCookie(&http.Cookie{Name: auth.CookieName, Value: sess.ID})
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || n < 1000 {
					b.Fatalf("%s: %s, %d bytes", page, resp.Status, n)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
