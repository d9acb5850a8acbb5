// Command benchtable reads the output of `make bench` (go test -bench lines)
// and prints the one table BENCHMARKS.md keeps: each figure, its goal,
// whether this run met it, and the benchmark that measured it.
//
//	go run ./scripts/benchtable bench.out
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// figure is one row: metric of the benchmark whose name starts with bench.
type figure struct {
	what, bench, metric string
	// goal compares the value; nil for a figure that is only reported.
	goal     func(v float64) bool
	goalText string
}

func below(limit float64) func(float64) bool   { return func(v float64) bool { return v < limit } }
func atMost(limit float64) func(float64) bool  { return func(v float64) bool { return v <= limit } }
func atLeast(limit float64) func(float64) bool { return func(v float64) bool { return v >= limit } }

var figures = []figure{
	{"push → running, forge (stop-first, as compose), median ms", "BenchmarkPushToRunning", "forge-ms", nil, ""},
	{"push → running, forge with update order start-first, median ms", "BenchmarkPushToRunning", "start-first-ms", nil, ""},
	{"push → running, watchtower (API-triggered), median ms", "BenchmarkPushToRunning", "watchtower-ms", nil, ""},
	{"forge start-first / watchtower", "BenchmarkPushToRunning", "start-first/watchtower", atMost(0.8), "≤ 0.8"},
	{"forge stop-first / watchtower", "BenchmarkPushToRunning", "forge/watchtower", atMost(0.8), "≤ 0.8"},
	{"forge start-first over the engine's floor (create + start), ms", "BenchmarkPushToRunning", "start-first-over-floor-ms", atMost(150), "≤ 150"},
	{"forge stop-first over the engine's floor (create + start + stop), ms", "BenchmarkPushToRunning", "forge-over-floor-ms", atMost(150), "≤ 150"},
	{"deploy overhead: forge deploy / the same pinned compose Up", "BenchmarkDeployOverhead", "forge/sdk", atMost(1.05), "≤ 1.05"},
	{"signed GitHub ingest / bare net/http", "BenchmarkGitHubIngest", "forge/bare", atLeast(0.5), "≥ 0.5"},
	{"signed GitHub ingest p99 at half load, ms", "BenchmarkGitHubIngest", "p99-ms@half", below(5), "< 5"},
	{"idle RSS beside 1 container, MB", "BenchmarkIdleFootprint/containers=1", "rss-MB", below(20), "< 20"},
	{"idle RSS beside 20 containers, MB", "BenchmarkIdleFootprint/containers=20", "rss-MB", below(20), "< 20"},
	{"idle CPU beside 1 container, ms per minute", "BenchmarkIdleFootprint/containers=1", "cpu-ms/idle-min", nil, ""},
	{"idle CPU beside 20 containers, ms per minute", "BenchmarkIdleFootprint/containers=20", "cpu-ms/idle-min", nil, ""},
	{"collector CPU per container, 20 containers, first run, ms", "BenchmarkCollectorRun/containers=20", "forge-cold-cpu-ms/container", below(1), "< 1"},
	{"collector CPU per container, 20 containers, later runs, ms", "BenchmarkCollectorRun/containers=20", "forge-cpu-ms/container", below(1), "< 1"},
	{"collector CPU per container, 100 containers, first run, ms", "BenchmarkCollectorRun/containers=100", "forge-cold-cpu-ms/container", below(1), "< 1"},
	{"collector CPU per container, 100 containers, later runs, ms", "BenchmarkCollectorRun/containers=100", "forge-cpu-ms/container", below(1), "< 1"},
	{"collector wall / docker stats --no-stream, 20 containers", "BenchmarkCollectorRun/containers=20", "wall-ratio", atMost(1), "≤ 1.0"},
	{"collector wall / docker stats --no-stream, 100 containers", "BenchmarkCollectorRun/containers=100", "wall-ratio", atMost(1), "≤ 1.0"},
	{"deploy with a dead notification channel / with none", "BenchmarkDeployWithDeadChannel", "dead/none", atMost(1.05), "≈ 1.0"},
	{"webhook ack p99 while deploys run, ms", "BenchmarkAckLatencyDuringDeploy", "p99-ms", below(10), "< 10"},
	{"stats query p99, 24 h of a 50-service project, ms", "BenchmarkQuery/24h", "p99-ms", below(20), "< 20"},
	{"stats query p99, 30 days of a 50-service project, ms", "BenchmarkQuery/720h", "p99-ms", below(20), "< 20"},
}

// parse reads "BenchmarkX-2  N  123 ns/op  4.5 unit ..." lines into
// name (without the -GOMAXPROCS suffix) -> unit -> value; a later line for
// the same name wins.
func parse(r io.Reader) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := fields[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(fields); i += 2 {
			if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
				m[fields[i+1]] = v
			}
		}
		out[name] = m
	}
	return out
}

// lookup finds metric in the benchmark named bench, or in a sub-benchmark
// of it when bench names the parent.
func lookup(res map[string]map[string]float64, bench, metric string) (float64, bool) {
	for name, m := range res {
		if name == bench || strings.HasPrefix(name, bench+"/") {
			if v, ok := m[metric]; ok {
				return v, true
			}
		}
	}
	return 0, false
}

func main() {
	in := io.Reader(os.Stdin)
	if len(os.Args) > 1 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
		defer f.Close()
		in = f
	}
	res := parse(in)
	host, _ := os.Hostname()
	fmt.Printf("docker-forge benchmarks, %s, %s\n\n", time.Now().Format(time.DateOnly), host)
	fmt.Println("| figure | this run | goal | met | benchmark |")
	fmt.Println("| --- | --- | --- | --- | --- |")
	for _, f := range figures {
		v, ok := lookup(res, f.bench, f.metric)
		value, met := "not run", ""
		if ok {
			value = strconv.FormatFloat(v, 'g', 4, 64)
			if f.goal != nil {
				met = "yes"
				if !f.goal(v) {
					met = "**no**"
				}
			}
		}
		fmt.Printf("| %s | %s | %s | %s | `%s` %s |\n", f.what, value, f.goalText, met, f.bench, f.metric)
	}
}
