package webhook

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

// BenchmarkGitHubIngest measures signed GitHub push ingest (an 8.5 KB push:
// body limit, HMAC-SHA256 over the raw body, parse, a replay claim in a real
// bbolt ledger, answer) against a bare net/http handler that only reads the
// same body, both driven by the same 8 concurrent loopback clients in one
// run. It reports requests per second for both, their ratio (target ≥ 0.5),
// and the p99 latency of forge paced at half its own throughput (target
// < 5 ms).
func BenchmarkGitHubIngest(b *testing.B) {
	const secret = "bench-secret"
	body, err := os.ReadFile(filepath.Join("testdata", "github", "go-scm__push.json"))
	if err != nil {
		b.Fatal(err)
	}
	// Every push in a real stream has its own body (its own "after"): each
	// request gets one, signed, so the replay guard sees new deliveries.
	var after struct {
		After string `json:"after"`
	}
	if err := json.Unmarshal(body, &after); err != nil || len(after.After) != 40 {
		b.Fatalf("the payload has no 40-hex after: %v", err)
	}
	led, err := ledger.Open(filepath.Join(b.TempDir(), "forge.db"), ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer led.Close()
	s, err := New(Config{Secret: secret, Dispatcher: queueOnly{}, Replay: led})
	if err != nil {
		b.Fatal(err)
	}
	r := mux.NewRouter()
	s.Register(r)
	forgeSrv := httptest.NewServer(r)
	defer forgeSrv.Close()
	bareSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer bareSrv.Close()

	const workers = 8
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var seq atomic.Int64
	send := func(url string) time.Duration {
		n := seq.Add(1)
		push := strings.Replace(string(body), after.After, fmt.Sprintf("%040x", n), 1)
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(push))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d", n))
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(Sign([]byte(push), secret)))
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("%s answered %d", url, resp.StatusCode)
		}
		return time.Since(t0)
	}
	// flood sends n requests from the workers and returns requests/second.
	flood := func(url string, n int) float64 {
		var wg sync.WaitGroup
		var left atomic.Int64
		left.Store(int64(n))
		t0 := time.Now()
		for range workers {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					send(url)
				}
			})
		}
		wg.Wait()
		return float64(n) / time.Since(t0).Seconds()
	}
	const n = 2000
	var forgeRPS, bareRPS float64
	for b.Loop() {
		forgeRPS += flood(forgeSrv.URL+"/hooks/github", n)
		bareRPS += flood(bareSrv.URL+"/", n)
	}
	forgeRPS /= float64(b.N)
	bareRPS /= float64(b.N)

	// Half of forge's throughput, paced, for about two seconds.
	rate := forgeRPS / 2
	interval := time.Duration(float64(time.Second) / rate * workers)
	count := int(rate * 2)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(count))
	for range workers {
		wg.Go(func() {
			next := time.Now()
			for left.Add(-1) >= 0 {
				d := send(forgeSrv.URL + "/hooks/github")
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				next = next.Add(interval)
				time.Sleep(time.Until(next))
			}
		})
	}
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(forgeRPS, "forge-req/s")
	b.ReportMetric(bareRPS, "bare-req/s")
	b.ReportMetric(forgeRPS/bareRPS, "forge/bare")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms@half")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms@half")
}

// queueOnly is a dispatcher that accepts every event at once, so the
// benchmark measures the listener itself.
type queueOnly struct{}

func (queueOnly) Submit(_ context.Context, events []forge.Event) ([]forge.QueuedDeploy, string, error) {
	return []forge.QueuedDeploy{{ID: 1, Project: "shop", Services: []string{"web"}, Status: forge.StatusQueued}}, "", nil
}
