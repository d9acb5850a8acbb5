package collector

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

func TestParseWindow(t *testing.T) {
	r := DefaultRetention
	for _, tt := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"", 2 * time.Hour, false},
		{"30m", 30 * time.Minute, false},
		{"720h", 720 * time.Hour, false},
		{"721h", 0, true}, // past the 1-hour rollups' 30 days
		{"7d", 0, true},   // not a Go duration
		{"-1h", 0, true},
		{"0s", 0, true},
		{"soon", 0, true},
	} {
		got, err := ParseWindow(tt.in, r)
		if tt.bad != (err != nil) || got != tt.want {
			t.Errorf("ParseWindow(%q) = %s, %v; want %s, bad %v", tt.in, got, err, tt.want, tt.bad)
		}
		if err != nil && !errors.Is(err, ErrBadQuery) {
			t.Errorf("ParseWindow(%q): %v is not ErrBadQuery", tt.in, err)
		}
	}
	short := Retention{Raw: 10 * time.Minute, Minute: 2 * time.Hour, Hour: 0}
	if _, err := ParseWindow("3h", short); err == nil {
		t.Error("a window longer than every tier's retention was accepted")
	}
}

func TestQueryAndTop(t *testing.T) {
	led := openLedger(t)
	now := t0.Add(time.Hour)
	if err := led.SaveStatsMeta(settingsKey, settings{Interval: 30 * time.Second, Retention: DefaultRetention}); err != nil {
		t.Fatal(err)
	}
	var shop, blog []forge.StatSeries
	for i := range 60 { // one sample a minute for the last hour
		at := t0.Add(time.Duration(i+1) * time.Minute)
		shop = append(shop, aggregate(at, []reading{
			{ContainerSample: forge.ContainerSample{Project: "shop", Service: "web", Memory: 100}, CPU: float64(i)},
			{ContainerSample: forge.ContainerSample{Project: "shop", Service: "db", Memory: 300}, CPU: 1},
		}, nil)...)
		blog = append(blog, aggregate(at, []reading{{ContainerSample: forge.ContainerSample{Project: "blog", Service: "app", Memory: 7}, CPU: 2}}, nil)...)
	}
	err := led.WriteStats(ledger.StatsWrite{
		Series: map[string][]forge.StatSeries{TierRaw: append(shop, blog...)},
		Latest: []forge.TopEntry{
			{ID: "1", Name: "shop/web", Container: "shop-web-1", Time: now, CPU: 59, Memory: 100},
			{ID: "2", Name: "shop/db", Container: "shop-db-1", Time: now, CPU: 1, Memory: 300},
			{ID: "3", Name: "blog/app", Container: "blog-app-1", Time: now.Add(-90 * time.Second), CPU: 2, Memory: 7},
			{ID: "4", Name: "gone/x", Container: "gone-x-1", Time: now.Add(-3 * time.Minute), CPU: 99, Memory: 999},
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	got, err := Query(led, "shop", "", "30m", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Service != "" || got[1].Service != "db" || got[2].Service != "web" {
		t.Fatalf("shop over 30m: %+v; want the total, db, web", got)
	}
	web := got[2]
	if len(web.Points) != 31 || web.Points[0].CPU != 29 || web.Current == nil || web.Current.CPU != 59 {
		t.Errorf("web over 30m: %d points from cpu %v, current %+v; want 31 points (both ends in), from 29, current 59", len(web.Points), web.Points[0].CPU, web.Current)
	}
	if got[0].Current.Memory != 400 {
		t.Errorf("shop's current total memory %d, want 400", got[0].Current.Memory)
	}
	if empty, err := Query(led, "nobody", "", "", now); err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("a project with no samples: %v, %v; want an empty, non-nil answer", empty, err)
	}
	if _, err := Query(led, "shop", "", "1y", now); !errors.Is(err, ErrBadQuery) {
		t.Errorf("bad window: %v", err)
	}
	all, err := Projects(led, "2h", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Project != "blog" || all[1].Project != "shop" || all[1].Service != "" {
		t.Errorf("projects: %+v; want blog's and shop's totals", all)
	}

	for _, tt := range []struct {
		by    string
		limit int
		want  []string
	}{
		{"cpu", 10, []string{"shop/web", "blog/app", "shop/db"}}, // gone/x is older than 2 minutes
		{"memory", 10, []string{"shop/db", "shop/web", "blog/app"}},
		{"", 1, []string{"shop/web"}},
	} {
		top, err := Top(led, tt.by, tt.limit, now)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range top {
			names = append(names, e.Name)
		}
		if len(names) != len(tt.want) || (len(names) > 0 && names[0] != tt.want[0]) || names[len(names)-1] != tt.want[len(tt.want)-1] {
			t.Errorf("top by %q limit %d = %v, want %v", tt.by, tt.limit, names, tt.want)
		}
	}
	for _, bad := range []struct {
		by    string
		limit int
	}{{"disk", 5}, {"cpu", 51}, {"cpu", -1}} {
		if _, err := Top(led, bad.by, bad.limit, now); !errors.Is(err, ErrBadQuery) {
			t.Errorf("top by %q limit %d: %v, want ErrBadQuery", bad.by, bad.limit, err)
		}
	}
	if w := TopWindow(15 * time.Second); w != 2*time.Minute {
		t.Errorf("top window at 15s = %s, want 2m", w)
	}
	if w := TopWindow(5 * time.Minute); w != 10*time.Minute {
		t.Errorf("top window at 5m = %s, want 10m", w)
	}
}

// TestQueryYoungProject: a project sampled for 20 seconds across a minute
// boundary is read from its samples, not from the 1-minute rollup that
// starts a little earlier; a service last sampled long ago has no current
// values.
func TestQueryYoungProject(t *testing.T) {
	led := openLedger(t)
	now := time.Date(2026, 11, 28, 10, 1, 10, 0, time.UTC)
	var raw []forge.StatSeries
	for at := now.Add(-20 * time.Second); !at.After(now); at = at.Add(time.Second) {
		raw = append(raw, aggregate(at, []reading{{ContainerSample: forge.ContainerSample{Project: "young", Service: "web", Memory: 1}, CPU: 5}}, nil)...)
	}
	raw = append(raw, aggregate(now.Add(-time.Hour), []reading{{ContainerSample: forge.ContainerSample{Project: "young", Service: "gone", Memory: 1}, CPU: 9}}, nil)...)
	minute := aggregate(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), []reading{{ContainerSample: forge.ContainerSample{Project: "young", Service: "web", Memory: 1}, CPU: 5}}, nil)
	if err := led.WriteStats(ledger.StatsWrite{Series: map[string][]forge.StatSeries{TierRaw: raw, TierMinute: minute}}); err != nil {
		t.Fatal(err)
	}
	got, err := Query(led, "young", "web", "5m", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Step != 0 || len(got[0].Points) != 21 || got[0].Current == nil {
		t.Fatalf("young project over 5m: %+v; want its 21 samples, step 0, and current values", got)
	}
	gone, err := Query(led, "young", "gone", "2h", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 1 || len(gone[0].Points) == 0 || gone[0].Current != nil {
		t.Errorf("a service sampled an hour ago: %+v; want its history and no current values", gone)
	}
}

// TestTopLeavesOutReplacedContainers: a service's container replaced by a
// recreate still has a latest sample in the window, but top lists only the
// containers the service runs now; a scaled service's replicas all stay.
func TestTopLeavesOutReplacedContainers(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	run1, run2 := now.Add(-40*time.Second), now.Add(-10*time.Second)
	in := []forge.TopEntry{
		{Name: "shop/web", Container: "shop-web-1", ID: "old", Time: run1, CPU: 50},
		{Name: "shop/web", Container: "shop-web-1", ID: "new", Time: run2, CPU: 1},
		{Name: "shop/worker", Container: "shop-worker-1", ID: "w1", Time: run2, CPU: 2},
		{Name: "shop/worker", Container: "shop-worker-2", ID: "w2", Time: run2, CPU: 3},
		{Name: "blog/web", Container: "blog-web-1", ID: "b1", Time: run1, CPU: 4}, // its last run: still shown
	}
	var ids []string
	for _, e := range withoutReplaced(in) {
		ids = append(ids, e.ID)
	}
	if got, want := strings.Join(ids, ","), "new,w1,w2,b1"; got != want {
		t.Errorf("kept %s, want %s", got, want)
	}
}
