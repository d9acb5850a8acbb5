package e2e

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/webhook"
)

// TestWebhookLoad sends signed webhooks to a real daemon on 127.0.0.1 at
// FORGE_LOAD_RATE per second for FORGE_LOAD_SECONDS (200/s for 5 s by
// default; `make load` runs 1000/s for 30 s) while the pushes keep deploys
// running, then checks that nothing accepted was lost: every 202's deploy is
// in the ledger and ends final. It reports accepted, rejected (503) and the
// acknowledgement latency distribution.
func TestWebhookLoad(t *testing.T) {
	rate, seconds := envInt("FORGE_LOAD_RATE", 200), envInt("FORGE_LOAD_SECONDS", 5)
	st := newFlipStack(t, "load")
	e, project, ref := st.e, st.project, st.ref
	digests := []string{st.digests["a"], st.digests["b"]}
	secret := randomName("e2e-load-")
	d := e.startDaemon(secret, "--log-level", "warn", "--keep", "1000000") // keep every deploy: each accepted one is checked

	// The tag flips every second, so the pushes keep real deploys running.
	stop := make(chan struct{})
	var flips sync.WaitGroup
	flips.Go(func() {
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			st.flip([]string{"a", "b"}[i%2])
		}
	})

	type result struct {
		status int
		ids    []uint64
		lat    time.Duration
	}
	total := rate * seconds
	results := make([]result, total)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
				digest := digests[i%2]
				// Each push its own body (the same body twice is a replay):
				// i written in spaces and tabs between two fields.
				body := fmt.Sprintf(`{"image":%q,%s"digest":%q}`, ref, whitespace(i), digest)
				req, _ := http.NewRequest(http.MethodPost, "http://"+d.addr+"/hooks/generic", strings.NewReader(body))
				req.Header.Set("X-Forge-Signature-256", "sha256="+hex.EncodeToString(webhook.Sign([]byte(body), secret)))
				req.Header.Set("X-Forge-Delivery", fmt.Sprintf("load-%d", i))
				t0 := time.Now()
				resp, err := client.Do(req)
				r := result{lat: time.Since(t0)}
				if err != nil {
					results[i] = r
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				r.status = resp.StatusCode
				var a struct {
					Deploys []forge.QueuedDeploy `json:"deploys"`
				}
				if json.Unmarshal(b, &a) == nil {
					for _, q := range a.Deploys {
						r.ids = append(r.ids, q.ID)
					}
				}
				results[i] = r
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	flips.Wait()

	accepted, rejected, duplicate, failed := 0, 0, 0, 0
	ids := map[uint64]bool{}
	var lat []time.Duration
	for _, r := range results {
		lat = append(lat, r.lat)
		switch r.status {
		case http.StatusAccepted:
			accepted++
			for _, id := range r.ids {
				ids[id] = true
			}
		case http.StatusServiceUnavailable:
			rejected++
		case http.StatusOK:
			duplicate++
		default:
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%d webhooks got neither 202, 200 nor 503", failed)
	}
	// Nothing accepted may be lost: each 202's deploy is recorded and ends.
	var hist []forge.Deploy
	for range 600 {
		hist = e.history(project)
		if unfinished(hist) == 0 {
			break
		}
		sleep()
	}
	recorded := map[uint64]forge.Deploy{}
	for _, h := range hist {
		recorded[h.ID] = h
	}
	lost := 0
	for id := range ids {
		if h, ok := recorded[id]; !ok || !h.Status.Final() {
			lost++
		}
	}
	if lost > 0 || unfinished(hist) > 0 {
		t.Errorf("lost %d accepted deploys; %d unfinished", lost, unfinished(hist))
	}
	if accepted == 0 {
		t.Fatal("no webhook was accepted")
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(10 * time.Microsecond) }
	t.Logf("load: %d webhooks at %d/s over %s (achieved %.0f/s): accepted %d, rejected 503 %d, other 200 %d, lost %d; deploys %d; ack latency p50 %s p90 %s p99 %s max %s",
		total, rate, time.Duration(seconds)*time.Second, float64(total)/elapsed.Seconds(), accepted, rejected, duplicate, lost,
		len(hist), pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1])
	_ = d
}

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil && v > 0 {
		return v
	}
	return def
}

// whitespace spells n in binary with spaces and tabs: JSON whitespace that
// makes each body distinct.
func whitespace(n int) string {
	var b strings.Builder
	for ; n > 0; n >>= 1 {
		b.WriteByte(" \t"[n&1])
	}
	return b.String() + "\n"
}
