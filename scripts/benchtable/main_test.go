package main

import (
	"strings"
	"testing"
)

func TestParseAndLookup(t *testing.T) {
	out := `goos: linux
BenchmarkPushToRunning-2   	      10	4625614849 ns/op	       542.2 floor-run-ms	       0.8433 start-first/watchtower
--- BENCH: BenchmarkPushToRunning-2
BenchmarkIdleFootprint/containers=20-2        	       1	60146714407 ns/op	         18.04 rss-MB
BenchmarkQuery/24h-2 	 200	 1 ns/op	 17.1 p99-ms
BenchmarkQuery/720h-2 	 200	 1 ns/op	 13.6 p99-ms
`
	res := parse(strings.NewReader(out))
	for _, tt := range []struct {
		bench, metric string
		want          float64
	}{
		{"BenchmarkPushToRunning", "start-first/watchtower", 0.8433},
		{"BenchmarkIdleFootprint/containers=20", "rss-MB", 18.04},
		{"BenchmarkQuery/720h", "p99-ms", 13.6},
	} {
		if got, ok := lookup(res, tt.bench, tt.metric); !ok || got != tt.want {
			t.Errorf("%s %s = %v, %v; want %v", tt.bench, tt.metric, got, ok, tt.want)
		}
	}
	if _, ok := lookup(res, "BenchmarkIdleFootprint/containers=1", "rss-MB"); ok {
		t.Error("a benchmark that did not run was found")
	}
}
