package collector

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

func TestCPUPercent(t *testing.T) {
	prev := &forge.ContainerSample{CPUTotal: 1_000, SystemTotal: 100_000}
	tests := []struct {
		name   string
		prev   *forge.ContainerSample
		cur    forge.ContainerSample
		want   float64
		wantOK bool
	}{
		{
			name: "the engine's own earlier reading wins over forge's",
			prev: prev,
			cur:  forge.ContainerSample{CPUTotal: 30_000, SystemTotal: 200_000, PreCPUTotal: 20_000, PreSystemTotal: 180_000, OnlineCPUs: 2},
			want: 100, wantOK: true, // 10k of 20k system ns, on 2 CPUs: one full CPU
		},
		{
			name: "forge's reading of the run before",
			prev: prev,
			cur:  forge.ContainerSample{CPUTotal: 6_000, SystemTotal: 200_000, OnlineCPUs: 2},
			want: 10, wantOK: true,
		},
		{
			name: "online CPUs unknown counts one",
			prev: prev,
			cur:  forge.ContainerSample{CPUTotal: 6_000, SystemTotal: 200_000},
			want: 5, wantOK: true,
		},
		{
			name: "idle",
			prev: prev,
			cur:  forge.ContainerSample{CPUTotal: 1_000, SystemTotal: 200_000, OnlineCPUs: 4},
			want: 0, wantOK: true,
		},
		{name: "no earlier reading", cur: forge.ContainerSample{CPUTotal: 6_000, SystemTotal: 200_000, OnlineCPUs: 2}},
		{name: "restarted: the counter went back", prev: prev, cur: forge.ContainerSample{CPUTotal: 500, SystemTotal: 200_000, OnlineCPUs: 2}},
		{name: "no time passed", prev: prev, cur: forge.ContainerSample{CPUTotal: 1_000, SystemTotal: 100_000, OnlineCPUs: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cpuPercent(tt.prev, tt.cur)
			if ok != tt.wantOK || math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("cpuPercent = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestAggregate(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	r := func(project, service string, cpu float64, mem, limit uint64) reading {
		return reading{ContainerSample: forge.ContainerSample{
			Project: project, Service: service, Memory: mem, MemoryLimit: limit,
			NetRx: 10, NetTx: 20, BlockRead: 30, BlockWrite: 40, PIDs: 2,
		}, CPU: cpu}
	}
	got := aggregate(at, []reading{
		r("shop", "web", 10, 100, 1000),
		r("shop", "web", 15.5, 200, 4000), // a second replica
		r("shop", "db", 1, 50, 0),         // unlimited
		r("blog", "app", 3, 7, 500),
	}, nil)
	want := map[[2]string]forge.StatPoint{
		{"blog", ""}:    {CPU: 3, CPUMax: 3, Memory: 7, MemoryMax: 7, MemoryLimit: 500, NetRx: 10, NetTx: 20, BlockRead: 30, BlockWrite: 40, PIDs: 2, Containers: 1},
		{"blog", "app"}: {CPU: 3, CPUMax: 3, Memory: 7, MemoryMax: 7, MemoryLimit: 500, NetRx: 10, NetTx: 20, BlockRead: 30, BlockWrite: 40, PIDs: 2, Containers: 1},
		// the project: everything summed, and unlimited because db is
		{"shop", ""}:    {CPU: 26.5, CPUMax: 26.5, Memory: 350, MemoryMax: 350, MemoryLimit: 0, NetRx: 30, NetTx: 60, BlockRead: 90, BlockWrite: 120, PIDs: 6, Containers: 3},
		{"shop", "db"}:  {CPU: 1, CPUMax: 1, Memory: 50, MemoryMax: 50, MemoryLimit: 0, NetRx: 10, NetTx: 20, BlockRead: 30, BlockWrite: 40, PIDs: 2, Containers: 1},
		{"shop", "web"}: {CPU: 25.5, CPUMax: 25.5, Memory: 300, MemoryMax: 300, MemoryLimit: 4000, NetRx: 20, NetTx: 40, BlockRead: 60, BlockWrite: 80, PIDs: 4, Containers: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d series, want %d: %+v", len(got), len(want), got)
	}
	order := [][2]string{{"blog", ""}, {"blog", "app"}, {"shop", ""}, {"shop", "db"}, {"shop", "web"}}
	for i, s := range got {
		k := [2]string{s.Project, s.Service}
		if k != order[i] {
			t.Errorf("series %d is %v, want %v (sorted by project, total first)", i, k, order[i])
		}
		if len(s.Points) != 1 {
			t.Fatalf("%v: %d points, want 1", k, len(s.Points))
		}
		w := want[k]
		w.Time, w.Samples = at, 1
		if s.Points[0] != w {
			t.Errorf("%v:\n got %+v\nwant %+v", k, s.Points[0], w)
		}
	}
	// A web replica that could not be read: no point for web, none for
	// shop's total, which would be short of it; db and blog as before.
	partial := aggregate(at, []reading{r("shop", "web", 10, 100, 1000), r("shop", "db", 1, 50, 0), r("blog", "app", 3, 7, 500)},
		map[[2]string]bool{{"shop", "web"}: true})
	var names []string
	for _, s := range partial {
		names = append(names, s.Project+"/"+s.Service)
	}
	if strings.Join(names, " ") != "blog/ blog/app shop/db" {
		t.Errorf("with a web reading failed: series %v; want blog/ blog/app shop/db", names)
	}
	if got := aggregate(at, nil, nil); len(got) != 0 {
		t.Errorf("no readings gave %d series; a run with nothing running must store no points, not zeros", len(got))
	}
}

func TestLargestLimit(t *testing.T) {
	for _, tt := range []struct{ a, b, want uint64 }{
		{100, 200, 200}, {200, 100, 200}, {0, 200, 0}, {200, 0, 0}, {0, 0, 0},
	} {
		if got := largestLimit(tt.a, tt.b); got != tt.want {
			t.Errorf("largestLimit(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
