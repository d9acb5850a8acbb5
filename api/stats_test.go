package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/collector"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/ledger"
)

func TestStatsRoutes(t *testing.T) {
	series := []forge.StatSeries{{Project: "shop", Service: "web", Step: forge.Duration(time.Minute), Points: []forge.StatPoint{{CPU: 12.5, Memory: 42}}}}
	tests := []struct {
		name       string
		target     string
		err        error
		wantStatus int
		wantQuery  api.StatsQuery
	}{
		{"a project's services", "/api/projects/shop/stats?window=1h&service=web", nil, http.StatusOK, api.StatsQuery{Project: "shop", Service: "web", Window: "1h"}},
		{"every project", "/api/stats?window=24h", nil, http.StatusOK, api.StatsQuery{Window: "24h"}},
		{"unknown project", "/api/projects/nope/stats", fmt.Errorf("stats of nope: %w", dispatch.ErrUnknownProject), http.StatusNotFound, api.StatsQuery{Project: "nope"}},
		{"bad window", "/api/projects/shop/stats?window=7d", fmt.Errorf("%w: window \"7d\" is not a positive Go duration", collector.ErrBadQuery), http.StatusBadRequest, api.StatsQuery{Project: "shop", Window: "7d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{stats: series, statsErr: tt.err}
			a := do(t, newRouter(b, nil), http.MethodGet, tt.target, "", nil)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", a.status, tt.wantStatus, a.body)
			}
			if len(b.statsQs) != 1 || b.statsQs[0] != tt.wantQuery {
				t.Errorf("backend asked %+v, want %+v", b.statsQs, tt.wantQuery)
			}
			if tt.err != nil {
				if got := a.errorText(t); !strings.Contains(got, tt.err.Error()) {
					t.Errorf("error %q, want %q", got, tt.err)
				}
				return
			}
			var got []forge.StatSeries
			if err := json.Unmarshal(a.body, &got); err != nil || !reflect.DeepEqual(got, series) {
				t.Errorf("answer %s (%v), want %+v", a.body, err, series)
			}
		})
	}
}

func TestSystemRoutes(t *testing.T) {
	host := forge.HostStats{EngineVersion: "20.10.24", CPUs: 2, Memory: 8 << 30, ContainersRunning: 3, Images: 4}
	b := &fakeBackend{system: host, top: []forge.TopEntry{{Name: "shop/web", CPU: 99}}}
	r := newRouter(b, nil)
	a := do(t, r, http.MethodGet, "/api/system/stats", "", nil)
	var got forge.HostStats
	if a.status != http.StatusOK || json.Unmarshal(a.body, &got) != nil || got != host {
		t.Errorf("system stats: %d %s", a.status, a.body)
	}
	b.systemErr = fmt.Errorf("docker engine info: %w", forge.ErrEngineUnavailable)
	if a := do(t, r, http.MethodGet, "/api/system/stats", "", nil); a.status != http.StatusServiceUnavailable {
		t.Errorf("system stats with the engine down: %d %s, want 503", a.status, a.body)
	}

	a = do(t, r, http.MethodGet, "/api/system/stats/top?by=memory&limit=5", "", nil)
	if a.status != http.StatusOK || len(b.topCalls) != 1 || b.topCalls[0] != (topCall{By: "memory", Limit: 5}) {
		t.Errorf("top: %d %s, calls %+v", a.status, a.body, b.topCalls)
	}
	if a := do(t, r, http.MethodGet, "/api/system/stats/top?limit=many", "", nil); a.status != http.StatusBadRequest {
		t.Errorf("top with limit=many: %d, want 400", a.status)
	}
	b.topErr = fmt.Errorf("%w: limit 99: want 1 to 50", collector.ErrBadQuery)
	if a := do(t, r, http.MethodGet, "/api/system/stats/top?limit=99", "", nil); a.status != http.StatusBadRequest {
		t.Errorf("top with limit=99: %d, want 400", a.status)
	}
}

// TestLocalStatsKnownAndUnknown runs the API on a real ledger: a project
// forge knows but has no samples of is an empty array, one it never saw is
// 404, and samples come back as stored.
func TestLocalStatsKnownAndUnknown(t *testing.T) {
	led := openLedger(t)
	now := time.Now().UTC().Truncate(time.Second)
	if err := led.SaveProject(forge.ProjectRef{Name: "quiet"}, now); err != nil {
		t.Fatal(err)
	}
	err := led.WriteStats(ledger.StatsWrite{Series: map[string][]forge.StatSeries{collector.TierRaw: {
		{Project: "shop", Points: []forge.StatPoint{{Time: now.Add(-time.Minute), CPU: 30, Memory: 5, Samples: 1}}},
		{Project: "shop", Service: "web", Points: []forge.StatPoint{{Time: now.Add(-time.Minute), CPU: 30, Memory: 5, Samples: 1}}},
	}, collector.TierMinute: {
		// stopped three hours ago; never deployed by forge
		{Project: "stopped", Points: []forge.StatPoint{{Time: now.Add(-3 * time.Hour), CPU: 1, Memory: 5, Samples: 4}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	eng := &fakeLister{refs: []forge.ProjectRef{{Name: "running"}}, hostErr: fmt.Errorf("info: %w", forge.ErrEngineUnavailable)}
	r := newRouter(&api.Local{Ledger: led, Engine: eng, Now: func() time.Time { return now }}, nil)
	for _, tt := range []struct {
		target string
		status int
		body   string
	}{
		{"/api/projects/quiet/stats", http.StatusOK, "[]"},             // deployed before, no samples
		{"/api/projects/running/stats", http.StatusOK, "[]"},           // has containers, no samples yet
		{"/api/projects/stopped/stats?window=1h", http.StatusOK, "[]"}, // history older than the window
		{"/api/stats?service=web", http.StatusBadRequest, ""},
		{"/api/system/stats/top?limit=0", http.StatusBadRequest, ""},
		{"/api/projects/nope/stats", http.StatusNotFound, ""},
		{"/api/projects/shop/stats?window=800h", http.StatusBadRequest, ""},
		{"/api/system/stats", http.StatusServiceUnavailable, ""},
		{"/api/system/stats/top", http.StatusOK, "[]"},
	} {
		a := do(t, r, http.MethodGet, tt.target, "", nil)
		if a.status != tt.status || tt.body != "" && strings.TrimSpace(string(a.body)) != tt.body {
			t.Errorf("GET %s: %d %s, want %d %s", tt.target, a.status, a.body, tt.status, tt.body)
		}
	}
	a := do(t, r, http.MethodGet, "/api/projects/shop/stats?window=10m", "", nil)
	var got []forge.StatSeries
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Service != "web" || len(got[1].Points) != 1 || got[1].Points[0].CPU != 30 || got[1].Current == nil {
		t.Errorf("shop over 10m: %s", a.body)
	}
	if _, err := (&api.Local{Ledger: led, Engine: eng}).Stats(t.Context(), api.StatsQuery{Project: "nope"}); !api.IsNotFound(err) || !errors.Is(err, dispatch.ErrUnknownProject) {
		t.Errorf("unknown project in-process: %v, want a not-found error", err)
	}
}
