package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// idleWait is how long serve idles before its memory is read (a few
// seconds in the smoke run).
func idleWait() time.Duration {
	if benchSmoke() {
		return 3 * time.Second
	}
	return 30 * time.Second
}

// benchSmoke reports whether the benchmarks run as CI's smoke test
// (FORGE_BENCH_SMOKE=1): each once, on its smallest case, quickly, to show
// it still works; its figures mean nothing.
func benchSmoke() bool { return os.Getenv("FORGE_BENCH_SMOKE") == "1" }

// BenchmarkIdleFootprint runs serve, as a user would (stats collector on
// its default schedule), beside 1 and then 20 running compose containers,
// and reads from /proc after 30 s idle: its resident memory (anonymous and
// file-backed apart), and the CPU it used over the next 30 s, per minute.
// Goal: RSS under 20 MB.
func BenchmarkIdleFootprint(b *testing.B) {
	for _, n := range []int{1, 20} {
		if benchSmoke() && n > 1 {
			continue
		}
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			e := newEnv(b, "")
			project := randomName("forge-bench-idle-")
			e.cleanupProject(project)
			ref := "forge-bench-idle:" + strings.TrimPrefix(project, "forge-bench-idle-")
			e.importImage(ref, "v1")
			var services strings.Builder
			for i := range n {
				fmt.Fprintf(&services, "  s%d:\n    image: %s\n    init: true\n    command: [\"sleep\", \"100000\"]\n", i, ref)
			}
			var d struct{ Status string }
			e.forgeJSON(&d, "deploy", "-f", writeCompose(b, "services:\n"+services.String()), "-p", project)
			if d.Status != "succeeded" {
				b.Fatalf("deploy of %d containers: %+v", n, d)
			}
			var rss, anon, file, cpuPerMin float64
			for b.Loop() {
				daemon := e.startDaemon(randomName("e2e-webhook-secret-"), "--log-level", "info")
				pid := daemon.cmd.Process.Pid
				time.Sleep(idleWait())
				status := procStatus(b, pid)
				rss, anon, file = status["VmRSS"], status["RssAnon"], status["RssFile"]
				if rss == 0 || rss != anon+file+status["RssShmem"] {
					b.Fatalf("/proc/%d/status: VmRSS %.0f kB is not RssAnon + RssFile + RssShmem", pid, rss)
				}
				cpu0 := procCPU(b, pid)
				time.Sleep(idleWait())
				cpuPerMin = (procCPU(b, pid) - cpu0).Seconds() * 1000 * float64(time.Minute) / float64(idleWait())
				daemon.stop(b)
			}
			b.ReportMetric(rss/1024, "rss-MB")
			b.ReportMetric(anon/1024, "anon-MB")
			b.ReportMetric(file/1024, "file-MB")
			b.ReportMetric(cpuPerMin, "cpu-ms/idle-min")
		})
	}
}

// procStatus reads the kB fields of /proc/PID/status.
func procStatus(tb testing.TB, pid int) map[string]float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		fields := strings.Fields(rest)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// procCPU is the user and system CPU time PID used so far.
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th of them, in clock ticks (USER_HZ, 100).
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
