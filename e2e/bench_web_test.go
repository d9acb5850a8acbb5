package e2e

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge/auth"
)

// BenchmarkDashboardFirstPage times the dashboard's projects page and a
// project's page served by a real daemon for 50 compose projects running
// on the real engine (one container each), signed in, over loopback; it
// reports the median and the 99th percentile. Goal: under 200 ms.
func BenchmarkDashboardFirstPage(b *testing.B) {
	e := newEnv(b, "")
	d := e.startDaemon("bench-secret", "--settle", "100ms", "--stats-schedule", "off")
	image := randomName("forge-bench-page-") + ":v1"
	e.importImage(image, "v1")
	var projects []string
	for i := range 50 {
		projects = append(projects, fmt.Sprintf("%s-%02d", randomName("forge-bench-page-"), i))
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, p := range projects {
		e.cleanupProject(p)
		// The default bridge: 50 networks of their own would exhaust the
		// engine's default address pools (about 30).
		compose := writeCompose(b, fmt.Sprintf("services:\n  web:\n    image: %s\n    init: true\n    network_mode: bridge\n    labels: {forge.enable: \"true\"}\n", image))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			e.docker("forge", "deploy", "-f", compose, "-p", p)
		})
	}
	wg.Wait()
	var tok struct {
		Token string `json:"token"`
	}
	e.forgeJSON(&tok, "token", "create", "--name", "bench", "--role", "admin")
	base := "http://" + d.addr
	form := "token=" + tok.Token
	req, _ := http.NewRequestWithContext(b.Context(), http.MethodPost, base+"/signin", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == auth.CookieName {
			session = c
		}
	}
	if session == nil {
		b.Fatalf("sign-in: %s, no session", resp.Status)
	}
	for _, page := range []string{"/", "/projects/" + projects[7]} {
		name := "projects"
		if page != "/" {
			name = "project"
		}
		b.Run(name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, base+page, nil)
				req.AddCookie(session)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %s", page, resp.Status)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
