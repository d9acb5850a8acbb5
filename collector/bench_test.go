package collector

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

// fillRollups stores a project of services with one 1-minute rollup a
// minute over the last day and one 1-hour rollup an hour over 30 days.
func fillRollups(b *testing.B, led *ledger.Ledger, project string, services int, now time.Time) {
	b.Helper()
	for _, tier := range []struct {
		name  string
		step  time.Duration
		count int
	}{{TierMinute, time.Minute, 24 * 60}, {TierHour, time.Hour, 30 * 24}} {
		var series []forge.StatSeries
		for s := range services + 1 {
			name := fmt.Sprintf("svc%02d", s)
			if s == services {
				name = "" // the project's total
			}
			ser := forge.StatSeries{Project: project, Service: name}
			for i := range tier.count {
				at := now.Add(-time.Duration(tier.count-i) * tier.step).Truncate(tier.step)
				ser.Points = append(ser.Points, forge.StatPoint{Time: at, CPU: float64(i % 100), CPUMax: 100, Memory: 200 << 20, MemoryMax: 300 << 20,
					MemoryLimit: 1 << 30, NetRx: uint64(i) << 20, NetTx: uint64(i) << 18, BlockRead: 1 << 30, BlockWrite: 1 << 29, PIDs: 12, Containers: 1, Samples: 4})
			}
			series = append(series, ser)
		}
		if err := led.WriteStats(ledger.StatsWrite{Series: map[string][]forge.StatSeries{tier.name: series}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuery reads one project of 50 services over 24 hours (1-minute
// rollups, 72,000 points) and over 30 days (1-hour rollups, 36,000 points),
// the way `docker forge stats PROJECT --window …` does, and reports the
// p99 of the query time. Target: p99 under 20 ms.
func BenchmarkQuery(b *testing.B) {
	led, err := ledger.Open(filepath.Join(b.TempDir(), "forge.db"), ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer led.Close()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	fillRollups(b, led, "big", 50, now)
	if err := led.SaveStatsMeta(settingsKey, settings{Interval: 15 * time.Second, Retention: DefaultRetention}); err != nil {
		b.Fatal(err)
	}
	for _, window := range []string{"24h", "720h"} {
		b.Run(window, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				got, err := Query(led, "big", "", window, now)
				took = append(took, time.Since(start))
				if err != nil || len(got) != 51 || len(got[1].Points) == 0 || len(got[1].Points) > MaxPoints {
					b.Fatalf("query %s: %d series, %v", window, len(got), err)
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
		})
	}
}

// BenchmarkLedgerGrowth runs the collector over 100 containers (20
// projects of 5 services) at the default 15 s schedule for simulated days,
// and reports the ledger file's size after each: raw samples stop growing
// after 2 hours, 1-minute rollups after 48, so from the third day on only
// the 1-hour rollups grow, until their 30 days. FORGE_GROWTH_DAYS sets the
// days (default 3).
func BenchmarkLedgerGrowth(b *testing.B) {
	days := 3
	if v := os.Getenv("FORGE_GROWTH_DAYS"); v != "" {
		_, _ = fmt.Sscan(v, &days)
	}
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "forge.db")
		led, err := ledger.Open(path, ledger.Options{})
		if err != nil {
			b.Fatal(err)
		}
		clock := t0
		syn := &synthetic{now: &clock, used: map[string]uint64{}, last: map[string]time.Time{}, cpu: func(time.Time) float64 { return 12.5 }}
		eng := &fakeEngine{reply: syn.reply}
		for i := range 100 {
			p, s := i/5, i%5
			eng.targets = append(eng.targets, forge.ContainerSample{ID: fmt.Sprintf("c%03d", i), Name: fmt.Sprintf("p%02d-s%d-1", p, s), Project: fmt.Sprintf("p%02d", p), Service: fmt.Sprintf("s%d", s)})
		}
		c, err := New(Config{Engine: eng, Ledger: led, Now: func() time.Time { return clock }})
		if err != nil {
			b.Fatal(err)
		}
		var sizes []int64
		for day := 1; day <= days; day++ {
			for end := t0.Add(time.Duration(day) * 24 * time.Hour); clock.Before(end); clock = clock.Add(15 * time.Second) {
				if _, err := c.Collect(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			st, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			sizes = append(sizes, st.Size())
			b.ReportMetric(float64(st.Size())/(1<<20), fmt.Sprintf("MiB-day%d", day))
		}
		_ = led.Close()
	}
}
