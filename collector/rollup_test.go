package collector

import (
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func raw(at time.Duration, cpu float64, mem, limit uint64) forge.StatPoint {
	return forge.StatPoint{Time: t0.Add(at), CPU: cpu, CPUMax: cpu, Memory: mem, MemoryMax: mem, MemoryLimit: limit, NetRx: mem / 10, PIDs: 4, Containers: 2, Samples: 1}
}

func TestRollup(t *testing.T) {
	tests := []struct {
		name   string
		points []forge.StatPoint
		want   forge.StatPoint
	}{
		{
			name:   "averages and maxima of samples",
			points: []forge.StatPoint{raw(0, 10, 100, 1000), raw(15*time.Second, 30, 300, 1000), raw(30*time.Second, 20, 200, 2000)},
			want:   forge.StatPoint{CPU: 20, CPUMax: 30, Memory: 200, MemoryMax: 300, MemoryLimit: 2000, NetRx: 20, PIDs: 4, Containers: 2, Samples: 3},
		},
		{
			name:   "an unlimited container makes the rollup unlimited",
			points: []forge.StatPoint{raw(0, 10, 100, 1000), raw(15*time.Second, 10, 100, 0)},
			want:   forge.StatPoint{CPU: 10, CPUMax: 10, Memory: 100, MemoryMax: 100, MemoryLimit: 0, NetRx: 10, PIDs: 4, Containers: 2, Samples: 2},
		},
		{
			name: "rollups of rollups weigh by samples and keep the inner maxima",
			points: []forge.StatPoint{
				{CPU: 10, CPUMax: 90, Memory: 100, MemoryMax: 500, MemoryLimit: 1000, Samples: 3, Containers: 1},
				{CPU: 50, CPUMax: 60, Memory: 300, MemoryMax: 400, MemoryLimit: 1000, Samples: 1, Containers: 1},
			},
			want: forge.StatPoint{CPU: 20, CPUMax: 90, Memory: 150, MemoryMax: 500, MemoryLimit: 1000, Samples: 4, Containers: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rollup(t0, tt.points)
			tt.want.Time = t0
			if got != tt.want {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDownsampleKeepsGaps(t *testing.T) {
	points := []forge.StatPoint{
		raw(5*time.Second, 10, 100, 0), raw(50*time.Second, 30, 100, 0), // minute 0
		// minute 1: the engine was down, no samples
		raw(2*time.Minute+10*time.Second, 40, 400, 0), // minute 2
	}
	got := downsample(points, time.Minute)
	if len(got) != 2 {
		t.Fatalf("got %d points, want 2 (the empty minute stays empty): %+v", len(got), got)
	}
	if !got[0].Time.Equal(t0) || got[0].CPU != 20 || got[0].CPUMax != 30 || got[0].Samples != 2 {
		t.Errorf("minute 0 = %+v, want time %v, cpu 20, max 30, 2 samples", got[0], t0)
	}
	if !got[1].Time.Equal(t0.Add(2*time.Minute)) || got[1].CPU != 40 || got[1].Memory != 400 {
		t.Errorf("minute 2 = %+v", got[1])
	}
	if len(downsample(nil, time.Minute)) != 0 {
		t.Error("no points must give no rollups")
	}
}

func TestBucketStep(t *testing.T) {
	for _, tt := range []struct {
		window, tier, want time.Duration
	}{
		// window/(MaxPoints-1), rounded up: an unaligned window spans at
		// most MaxPoints buckets.
		{30 * time.Minute, 0, 16 * time.Second},
		{2 * time.Hour, 0, 61 * time.Second},
		{10 * time.Minute, 0, 6 * time.Second},
		{24 * time.Hour, time.Minute, 13 * time.Minute},
		{3 * time.Hour, time.Minute, 2 * time.Minute}, // 91s rounds up to whole minutes
		{30 * 24 * time.Hour, time.Hour, 7 * time.Hour},
		{time.Hour, time.Hour, time.Hour}, // never finer than the tier
	} {
		if got := bucketStep(tt.window, tt.tier); got != tt.want {
			t.Errorf("bucketStep(%s, %s) = %s, want %s", tt.window, tt.tier, got, tt.want)
		}
	}
}
