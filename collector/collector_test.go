package collector

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/engine"
)

func TestCollectRecordedStats(t *testing.T) {
	busy := forge.ContainerSample{ID: "busy1", Name: "p1-busy-1", Project: "p1", Service: "busy"}
	idle := forge.ContainerSample{ID: "idle1", Name: "p1-idle-1", Project: "p1", Service: "idle"}
	gone := forge.ContainerSample{ID: "gone1", Name: "p2-gone-1", Project: "p2", Service: "gone"}
	// What the engine answers for busy, run after run.
	busyAnswers := map[bool][]string{
		true:  {"busy-with-previous", "busy-with-previous"},
		false: {"busy-oneshot-1", "busy-oneshot-2", "busy-restarted-oneshot"},
	}
	var mu sync.Mutex
	idleReads := 0
	eng := &fakeEngine{targets: []forge.ContainerSample{busy, idle, gone}}
	eng.reply = func(_ int, c forge.ContainerSample, previous bool) (forge.ContainerSample, error) {
		switch c.ID {
		case "idle1":
			if previous {
				return recorded(t, "idle-with-previous")
			}
			// One recording, read again and again: its counters move on
			// as an idle container's do.
			s, err := recorded(t, "idle-oneshot")
			mu.Lock()
			idleReads++
			s.SystemTotal += uint64(idleReads) * 30e9
			s.CPUTotal += uint64(idleReads) * 1e6
			mu.Unlock()
			return s, err
		case "gone1":
			return recorded(t, "stopped")
		}
		mu.Lock()
		defer mu.Unlock()
		name := busyAnswers[previous][0]
		busyAnswers[previous] = busyAnswers[previous][1:]
		return recorded(t, name)
	}
	led := openLedger(t)
	reg := prometheus.NewRegistry()
	clock := t0
	c, err := New(Config{Engine: eng, Ledger: led, ErrNotRunning: engine.ErrNotRunning, Metrics: NewMetrics(reg), Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	collect := func() Result {
		t.Helper()
		res, err := c.Collect(context.Background())
		if err != nil {
			t.Fatalf("collect at %s: %v", clock, err)
		}
		clock = clock.Add(15 * time.Second)
		return res
	}

	// Run 1: containers seen for the first time are read with the
	// engine's earlier reading; the stopped one is left out, not zero.
	res := collect()
	if res.Containers != 3 || res.Sampled != 2 || res.Vanished != 1 || res.Failed != 0 {
		t.Errorf("first run = %+v; want 3 listed, 2 sampled, 1 vanished", res)
	}
	wantCalls(t, eng.takeCalls(), map[string]bool{"busy1": true, "idle1": true, "gone1": true})
	pts := points(t, led, "p1")
	if got := pts["busy"][0].CPU; got < 23 || got > 27 {
		t.Errorf("busy loop under --cpus 0.25 reads %.2f%% CPU, want about 25%%", got)
	}
	if pts[""][0].Memory != pts["busy"][0].Memory+pts["idle"][0].Memory || pts[""][0].Containers != 2 {
		t.Errorf("project total %+v is not the sum of busy %+v and idle %+v", pts[""][0], pts["busy"][0], pts["idle"][0])
	}
	if pts["busy"][0].MemoryLimit != 0 {
		t.Errorf("a container without a limit of its own reads limit %d, want 0 (unlimited)", pts["busy"][0].MemoryLimit)
	}
	if p2, _ := led.StatsRange(TierRaw, "p2", time.Time{}, clock); len(p2) != 0 {
		t.Errorf("the stopped container's project got points: %v", p2)
	}

	// Runs 2 and 3: known containers are read once, and CPU comes from
	// forge's own reading of the run before.
	collect()
	wantCalls(t, eng.takeCalls(), map[string]bool{"busy1": false, "idle1": false, "gone1": true})
	collect()
	wantCalls(t, eng.takeCalls(), map[string]bool{"busy1": false, "idle1": false, "gone1": true})
	pts = points(t, led, "p1")
	if len(pts["busy"]) != 3 {
		t.Fatalf("busy has %d points after 3 runs, want 3", len(pts["busy"]))
	}
	if got := pts["busy"][2].CPU; got < 23 || got > 27 {
		t.Errorf("CPU from two one-shot readings 5 s apart = %.2f%%, want about 25%%", got)
	}

	// Run 4: the container restarted, its counters went back: it is read
	// again with the engine's earlier reading instead of giving a
	// negative or zero CPU.
	collect()
	calls := eng.takeCalls()
	if !hasCall(calls, statsCall{"busy1", false}) || !hasCall(calls, statsCall{"busy1", true}) {
		t.Errorf("after a restart busy was read %v; want a one-shot read, then one with the engine's earlier reading", calls)
	}
	pts = points(t, led, "p1")
	if got := pts["busy"][3].CPU; got < 23 || got > 27 {
		t.Errorf("CPU after a restart = %.2f%%, want about 25%%", got)
	}

	top, err := Top(led, "cpu", 10, clock)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 2 || top[0].Name != "p1/busy" || top[0].Container != "p1-busy-1" || top[1].Name != "p1/idle" {
		t.Errorf("top = %+v; want p1/busy then p1/idle", top)
	}
	if got := testutil.ToFloat64(c.cfg.Metrics.cpu.WithLabelValues("p1", "busy")); got < 23 || got > 27 {
		t.Errorf("forge_service_cpu_percent{p1,busy} = %v", got)
	}
	if got := testutil.CollectAndCount(c.cfg.Metrics.mem); got != 2 {
		t.Errorf("forge_service_memory_bytes has %d series, want 2 (no project totals, no stopped service)", got)
	}
}

func wantCalls(t *testing.T, calls []statsCall, want map[string]bool) {
	t.Helper()
	if len(calls) != len(want) {
		t.Errorf("stats calls %v, want one per container %v", calls, want)
	}
	for _, c := range calls {
		if p, ok := want[c.ID]; !ok || p != c.Previous {
			t.Errorf("call %+v; want previous=%v for %s", c, want[c.ID], c.ID)
		}
	}
}

func hasCall(calls []statsCall, c statsCall) bool {
	for _, x := range calls {
		if x == c {
			return true
		}
	}
	return false
}

func points(t *testing.T, led Store, project string) map[string][]forge.StatPoint {
	t.Helper()
	p, err := led.StatsRange(TierRaw, project, time.Time{}, t0.Add(1000*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCollectWithEngineDownLeavesAGap(t *testing.T) {
	eng := &fakeEngine{targets: []forge.ContainerSample{{ID: "a", Name: "a", Project: "p", Service: "s"}}}
	eng.reply = func(int, forge.ContainerSample, bool) (forge.ContainerSample, error) {
		return forge.ContainerSample{}, forge.ErrEngineUnavailable
	}
	led := openLedger(t)
	reg := prometheus.NewRegistry()
	c, err := New(Config{Engine: eng, Ledger: led, Metrics: NewMetrics(reg), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Collect(context.Background()); err == nil {
		t.Error("a run whose every reading failed reported no error")
	}
	eng.listErr = forge.ErrEngineUnavailable
	if _, err := c.Collect(context.Background()); err == nil {
		t.Error("a run that could not list containers reported no error")
	}
	if ps, _ := led.StatsProjects(TierRaw); len(ps) != 0 {
		t.Errorf("an engine that is down left points %v; it must leave a gap", ps)
	}
	if got := testutil.ToFloat64(c.cfg.Metrics.errors); got != 3 {
		t.Errorf("forge_collector_errors_total = %v, want 3 (one failed reading, two failed runs)", got)
	}
}

// synthetic answers readings whose CPU use between two runs is cpu(run),
// on a 2-CPU host, with memory 100 MiB + the run number.
type synthetic struct {
	mu   sync.Mutex
	now  *time.Time
	cpu  func(at time.Time) float64
	used map[string]uint64
	last map[string]time.Time
}

func (s *synthetic) reply(_ int, c forge.ContainerSample, previous bool) (forge.ContainerSample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := *s.now
	if last, ok := s.last[c.ID]; ok {
		s.used[c.ID] += uint64(s.cpu(now) / 100 * float64(now.Sub(last)))
	}
	s.last[c.ID] = now
	sys := uint64(now.Sub(t0.Add(-time.Hour))) * 2
	r := forge.ContainerSample{
		Read: now, CPUTotal: s.used[c.ID], SystemTotal: sys, OnlineCPUs: 2,
		Memory: 100 << 20, MemoryLimit: 512 << 20, PIDs: 3,
	}
	if previous {
		r.PreCPUTotal, r.PreSystemTotal = r.CPUTotal, sys-1 // a first reading: 0%
	}
	return r, nil
}

func TestRollupsAndRetentionOverTime(t *testing.T) {
	clock := t0
	syn := &synthetic{now: &clock, used: map[string]uint64{}, last: map[string]time.Time{}, cpu: func(at time.Time) float64 {
		if at.Unix()/30%2 == 0 {
			return 10
		}
		return 30
	}}
	eng := &fakeEngine{targets: []forge.ContainerSample{
		{ID: "w1", Name: "shop-web-1", Project: "shop", Service: "web"},
		{ID: "w2", Name: "shop-web-2", Project: "shop", Service: "web"},
	}, reply: syn.reply}
	led := openLedger(t)
	ret := Retention{Raw: 10 * time.Minute, Minute: 2 * time.Hour, Hour: 3 * time.Hour}
	c, err := New(Config{Engine: eng, Ledger: led, Schedule: "@every 30s", Retention: ret, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	end := t0.Add(2*time.Hour + 10*time.Minute)
	for ; clock.Before(end); clock = clock.Add(30 * time.Second) {
		if _, err := c.Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	now := clock.Add(-30 * time.Second) // the last run

	rawFirst, rawLast, _, _ := led.StatsSpan(TierRaw, "shop")
	// Pruning runs as each minute ends, so a tier may hold up to a minute
	// more than its retention.
	if rawFirst.Before(now.Add(-ret.Raw-time.Minute)) || !rawLast.Equal(now) {
		t.Errorf("raw samples span %s to %s; want within the last %s (+1m) up to %s", rawFirst, rawLast, ret.Raw, now)
	}
	mins, err := led.StatsRange(TierMinute, "shop", time.Time{}, end)
	if err != nil {
		t.Fatal(err)
	}
	web := mins["web"]
	if first := web[0].Time; first.Before(now.Add(-ret.Minute - time.Minute)) {
		t.Errorf("1-minute rollups reach back to %s, past their 2h retention (now %s)", first, now)
	}
	if last := web[len(web)-1].Time; !last.Equal(now.Truncate(time.Minute).Add(-time.Minute)) {
		t.Errorf("last 1-minute rollup at %s; want the last complete minute before %s", last, now)
	}
	for _, p := range web[1:] { // the first minute's first run has no earlier reading
		// Two web replicas, each at 10% then 30% within the minute.
		if p.CPU != 40 || p.CPUMax != 60 || p.Samples != 2 || p.Memory != 200<<20 || p.MemoryLimit != 512<<20 {
			t.Fatalf("1-minute rollup %+v; want average 40%%, max 60%%, 2 samples, 200 MiB, limit 512 MiB", p)
		}
	}
	hours, err := led.StatsRange(TierHour, "shop", time.Time{}, end)
	if err != nil {
		t.Fatal(err)
	}
	if len(hours["web"]) != 2 || !hours["web"][0].Time.Equal(t0) || !hours["web"][1].Time.Equal(t0.Add(time.Hour)) {
		t.Fatalf("1-hour rollups %+v; want 10:00 and 11:00 (12:00 is not over)", hours["web"])
	}
	if h := hours["web"][1]; h.Samples != 120 || h.CPU != 40 || h.CPUMax != 60 {
		t.Errorf("11:00 rollup %+v; want 120 samples, average 40%%, max 60%%", h)
	}

	// A query picks the tier that covers its window (3h is longer than the
	// 1-minute tier keeps here: the tier that reaches furthest back by the
	// hour, the finer on a tie) and returns at most MaxPoints points; the
	// current values are the newest sample.
	for _, tt := range []struct {
		window string
		step   time.Duration
	}{{"5m", 0}, {"90m", time.Minute}, {"2h", time.Minute}, {"3h", 2 * time.Minute}} {
		got, err := Query(led, "shop", "web", tt.window, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Service != "web" || time.Duration(got[0].Step) != tt.step || len(got[0].Points) > MaxPoints || len(got[0].Points) == 0 {
			t.Fatalf("window %s: %d series, step %s, %d points; want web alone at step %s", tt.window, len(got), got[0].Step, len(got[0].Points), tt.step)
		}
		if got[0].Current == nil || !got[0].Current.Time.Equal(now) {
			t.Errorf("window %s: current %+v, want the sample at %s", tt.window, got[0].Current, now)
		}
	}
}

func TestRunRecoversPanicsAndSkipsOverlappingRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cron schedule for a few seconds")
	}
	release := make(chan struct{})
	eng := &fakeEngine{targets: []forge.ContainerSample{{ID: "a", Name: "a", Project: "p", Service: "s"}}}
	eng.reply = func(int, forge.ContainerSample, bool) (forge.ContainerSample, error) {
		return forge.ContainerSample{Read: time.Now(), CPUTotal: 1, SystemTotal: 2, PreSystemTotal: 1, OnlineCPUs: 1}, nil
	}
	eng.during = func(list int) {
		switch list {
		case 1:
			panic("boom")
		case 2:
			<-release // a slow run, across the next ticks
		}
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	led := openLedger(t)
	c, err := New(Config{Engine: eng, Ledger: led, Schedule: "@every 1s", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	time.AfterFunc(3200*time.Millisecond, func() { close(release) })
	time.Sleep(4700 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eng.mu.Lock()
	lists, maxIn := eng.lists, eng.maxInList
	eng.mu.Unlock()
	if maxIn != 1 {
		t.Errorf("%d runs overlapped; a run still going must make the next skip", maxIn)
	}
	if lists < 2 || lists > 4 {
		t.Errorf("%d runs in 4.7 s at @every 1s with one run taking 2 s; want 2 to 4", lists)
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if !strings.Contains(out, "panic") || !strings.Contains(out, "boom") {
		t.Errorf("the panic was not logged:\n%s", out)
	}
	if ps, _ := led.StatsProjects(TierRaw); len(ps) != 1 {
		t.Errorf("no run stored points after the panic: %v", ps)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestCollectPartialFailuresLeaveGaps: a replica whose reading fails (or
// panics) leaves its service and project without a point in that run,
// rather than sums short of it; and gauges do not outlive the readings.
func TestCollectPartialFailuresLeaveGaps(t *testing.T) {
	clock := t0
	syn := &synthetic{now: &clock, used: map[string]uint64{}, last: map[string]time.Time{}, cpu: func(time.Time) float64 { return 10 }}
	var fail string
	eng := &fakeEngine{targets: []forge.ContainerSample{
		{ID: "w1", Name: "shop-web-1", Project: "shop", Service: "web"},
		{ID: "w2", Name: "shop-web-2", Project: "shop", Service: "web"},
		{ID: "d1", Name: "shop-db-1", Project: "shop", Service: "db"},
	}}
	eng.reply = func(n int, c forge.ContainerSample, previous bool) (forge.ContainerSample, error) {
		switch {
		case c.ID == fail && fail == "w2":
			return forge.ContainerSample{}, errors.New("read timed out")
		case c.ID == fail && fail == "d1":
			panic("decoder bug")
		}
		return syn.reply(n, c, previous)
	}
	led := openLedger(t)
	reg := prometheus.NewRegistry()
	c, err := New(Config{Engine: eng, Ledger: led, Metrics: NewMetrics(reg), Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	run := func() Result {
		t.Helper()
		res, err := c.Collect(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(15 * time.Second)
		return res
	}
	run()
	fail = "w2"
	if res := run(); res.Failed != 1 || res.Sampled != 2 {
		t.Errorf("run with one replica failing: %+v", res)
	}
	fail = "d1"
	if res := run(); res.Failed != 1 || res.Sampled != 2 {
		t.Errorf("run with a panicking reading: %+v; want it counted as a failed reading", res)
	}
	pts := points(t, led, "shop")
	if len(pts["web"]) != 2 || len(pts["db"]) != 2 || len(pts[""]) != 1 {
		t.Errorf("points: web %d, db %d, total %d; want 2, 2, 1 (no web and no total in the run web failed, no db and no total when db did)",
			len(pts["web"]), len(pts["db"]), len(pts[""]))
	}
	for _, p := range pts["web"] {
		if p.Containers != 2 {
			t.Errorf("a web point sums %d containers; want both replicas or no point", p.Containers)
		}
	}
	if n := testutil.CollectAndCount(c.cfg.Metrics.cpu); n != 1 {
		t.Errorf("after db failed, forge_service_cpu_percent has %d series, want web's alone", n)
	}
	eng.listErr = forge.ErrEngineUnavailable
	if _, err := c.Collect(t.Context()); err == nil {
		t.Fatal("a run with the engine down reported no error")
	}
	if n := testutil.CollectAndCount(c.cfg.Metrics.mem); n != 0 {
		t.Errorf("with the engine down forge_service_memory_bytes still has %d series", n)
	}
}
