package ledger

import (
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

var st0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func series(project, service string, at ...time.Duration) forge.StatSeries {
	s := forge.StatSeries{Project: project, Service: service}
	for i, d := range at {
		s.Points = append(s.Points, forge.StatPoint{
			Time: st0.Add(d), CPU: 12.345 + float64(i), CPUMax: 50.5, Memory: 1 << 30, MemoryMax: 1<<30 + 1,
			MemoryLimit: 2 << 30, NetRx: 123456789, NetTx: 42, BlockRead: 7, BlockWrite: 8, PIDs: 9, Containers: 3, Samples: 4,
		})
	}
	return s
}

func TestStatsPointsRoundTripAndWindowBounds(t *testing.T) {
	l, _ := openTest(t, 0)
	err := l.WriteStats(StatsWrite{Series: map[string][]forge.StatSeries{"raw": {
		series("shop", "", 0, 15*time.Second, 30*time.Second, 45*time.Second),
		series("shop", "web", 0, 15*time.Second, 30*time.Second, 45*time.Second),
		series("shop", "db", 15*time.Second),
		series("blog", "app", 0),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	// [from, to): the point at from is in, the one at to is out.
	got, err := l.StatsRange("raw", "shop", st0.Add(15*time.Second), st0.Add(45*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(got["web"]) != 2 || len(got[""]) != 2 || len(got["db"]) != 1 {
		t.Fatalf("range [15s, 45s) = %v series: web %d, total %d, db %d; want 2, 2, 1 points", len(got), len(got["web"]), len(got[""]), len(got["db"]))
	}
	p := got["web"][0]
	want := series("shop", "web", 0, 15*time.Second).Points[1]
	want.CPU = 13.35 // 13.345, kept to a hundredth of a percent
	if p != want {
		t.Errorf("point read back\n got %+v\nwant %+v", p, want)
	}
	if !got["web"][1].Time.Equal(st0.Add(30 * time.Second)) {
		t.Errorf("points out of order: %v", got["web"])
	}
	only, err := l.StatsRange("raw", "shop", st0, st0.Add(time.Hour), "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(only) != 1 || len(only["web"]) != 4 {
		t.Errorf("asking for web alone gave %v", only)
	}
	first, last, ok, err := l.StatsSpan("raw", "shop")
	if err != nil || !ok || !first.Equal(st0) || !last.Equal(st0.Add(45*time.Second)) {
		t.Errorf("span = %v, %v, %v, %v; want %v to %v", first, last, ok, err, st0, st0.Add(45*time.Second))
	}
	if _, _, ok, _ := l.StatsSpan("1m", "shop"); ok {
		t.Error("an empty tier has a span")
	}
	if none, err := l.StatsRange("raw", "nope", st0, st0.Add(time.Hour)); err != nil || len(none) != 0 {
		t.Errorf("unknown project: %v, %v", none, err)
	}
	ps, _ := l.StatsProjects("raw")
	if len(ps) != 2 || ps[0] != "blog" || ps[1] != "shop" {
		t.Errorf("projects with stats = %v", ps)
	}
}

func TestStatsPruneCutsOffByTier(t *testing.T) {
	l, path := openTest(t, 0)
	err := l.WriteStats(StatsWrite{Series: map[string][]forge.StatSeries{
		"raw": {series("shop", "web", 0, time.Minute, 2*time.Minute), series("old", "x", 0)},
		"1m":  {series("shop", "web", 0, time.Minute, 2*time.Minute)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = l.WriteStats(StatsWrite{Prune: map[string]time.Time{"raw": st0.Add(time.Minute), "1h": st0.Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := l.StatsRange("raw", "shop", time.Time{}, st0.Add(time.Hour))
	if len(got["web"]) != 2 || !got["web"][0].Time.Equal(st0.Add(time.Minute)) {
		t.Errorf("raw after pruning before 1m: %v; want the points at 1m and 2m (the cut-off is kept)", got["web"])
	}
	if ps, _ := l.StatsProjects("raw"); len(ps) != 1 || ps[0] != "shop" {
		t.Errorf("a project left without points must go: %v", ps)
	}
	if m, _ := l.StatsRange("1m", "shop", time.Time{}, st0.Add(time.Hour)); len(m["web"]) != 3 {
		t.Errorf("pruning raw touched 1m: %v", m)
	}
	// Reopened, the cut stays.
	l.Close()
	l2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if got, _ := l2.StatsRange("raw", "shop", time.Time{}, st0.Add(time.Hour)); len(got["web"]) != 2 {
		t.Errorf("after reopen: %v", got)
	}
}

func TestLatestReplacesAndExpires(t *testing.T) {
	l, _ := openTest(t, 0)
	w := func(latest []forge.TopEntry, before time.Time) {
		t.Helper()
		if err := l.WriteStats(StatsWrite{Latest: latest, LatestBefore: before}); err != nil {
			t.Fatal(err)
		}
	}
	w([]forge.TopEntry{{ID: "a", Name: "shop/web", CPU: 1, Time: st0}, {ID: "b", Name: "shop/db", CPU: 2, Time: st0}}, time.Time{})
	w([]forge.TopEntry{{ID: "a", Name: "shop/web", CPU: 5, Time: st0.Add(time.Minute)}}, time.Time{})
	got, err := l.Latest(st0.Add(30 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "a" || got[0].CPU != 5 {
		t.Errorf("latest since 30s = %+v; want a's newer reading alone", got)
	}
	if all, _ := l.Latest(time.Time{}); len(all) != 2 {
		t.Errorf("latest since ever = %d entries, want 2", len(all))
	}
	w(nil, st0.Add(30*time.Second))
	if all, _ := l.Latest(time.Time{}); len(all) != 1 || all[0].ID != "a" {
		t.Errorf("after expiring before 30s: %+v", all)
	}
}

func TestDecodePointRefusesDamage(t *testing.T) {
	b := encodePoint(forge.StatPoint{CPU: 1, Memory: 1 << 40})
	if _, err := decodePoint(b[:len(b)-1]); err == nil {
		t.Error("a truncated point decoded")
	}
	if _, err := decodePoint(append([]byte{9}, b[1:]...)); err == nil {
		t.Error("a point of an unknown version decoded")
	}
	if _, err := decodePoint(nil); err == nil {
		t.Error("an empty value decoded")
	}
}
