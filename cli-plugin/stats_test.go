package cliplugin

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
)

// statSeries is shop's history over the last 2h: web climbs from idle to a
// full CPU in the last half hour, with no samples (a gap) in between; db
// stays flat; the total is both.
func statSeries(now time.Time) []forge.StatSeries {
	var web, db, total []forge.StatPoint
	for i := range 24 {
		at := now.Add(-2*time.Hour + time.Duration(i)*5*time.Minute)
		if i >= 8 && i < 12 {
			continue // the engine was down
		}
		cpu := 1.0
		if i >= 18 {
			cpu = 100
		}
		w := forge.StatPoint{Time: at, CPU: cpu, Memory: uint64(20+i) << 20, MemoryLimit: 256 << 20, NetRx: 1500, NetTx: 2_000_000, BlockRead: 4096, PIDs: 4, Samples: 1}
		d := forge.StatPoint{Time: at, CPU: 0.5, Memory: 300 << 20, NetRx: 10, PIDs: 20, Samples: 1}
		web, db = append(web, w), append(db, d)
		total = append(total, forge.StatPoint{Time: at, CPU: w.CPU + d.CPU, Memory: w.Memory + d.Memory, NetRx: w.NetRx + d.NetRx, NetTx: w.NetTx, BlockRead: w.BlockRead, PIDs: 24, Samples: 1})
	}
	cur, curDB, curTotal := web[len(web)-1], db[len(db)-1], total[len(total)-1]
	return []forge.StatSeries{
		{Project: "shop", Step: forge.Duration(time.Minute), Points: total, Current: &curTotal},
		{Project: "shop", Service: "db", Step: forge.Duration(time.Minute), Points: db, Current: &curDB},
		{Project: "shop", Service: "web", Step: forge.Duration(time.Minute), Points: web, Current: &cur},
	}
}

func TestStatsTable(t *testing.T) {
	now := t0.Add(2 * time.Hour)
	var buf bytes.Buffer
	if err := writeStats(&buf, statSeries(now), false, now, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "stats", buf.Bytes())

	buf.Reset()
	// blog stopped: history, but no current values.
	byProject := []forge.StatSeries{statSeries(now)[0], {Project: "blog", Points: []forge.StatPoint{{Time: now.Add(-time.Hour), CPU: 2, Memory: 7 << 20}}}}
	if err := writeStats(&buf, byProject, true, now, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "stats-projects", buf.Bytes())
}

func TestSparkline(t *testing.T) {
	now := t0
	pts := func(vals ...float64) []forge.StatPoint {
		var out []forge.StatPoint
		for i, v := range vals {
			if v < 0 {
				continue // a gap
			}
			out = append(out, forge.StatPoint{Time: now.Add(time.Duration(i) * time.Hour), CPU: v})
		}
		return out
	}
	cpu := func(p forge.StatPoint) float64 { return p.CPU }
	for _, tt := range []struct {
		name string
		vals []float64 // one an hour; -1 is no point
		step time.Duration
		want string // one character an hour
	}{
		{"scaled from zero to the largest", []float64{0, 50, 100, 25}, 0, "▁▅█▃"},
		{"all idle is the lowest bar", []float64{0, 0, 0, 0}, 0, "▁▁▁▁"},
		{"a time without samples is a blank", []float64{10, 10, -1, -1, 10, 10}, 0, "██  ██"},
		{"a rollup stands for its period", []float64{-1, -1, 5, -1}, time.Hour, "  █ "},
	} {
		got := sparkline(pts(tt.vals...), tt.step, now, time.Duration(len(tt.vals))*time.Hour, cpu)
		want := ""
		for _, r := range tt.want {
			want += strings.Repeat(string(r), sparkWidth/len(tt.vals))
		}
		if got != want {
			t.Errorf("%s: %q, want %q", tt.name, got, want)
		}
	}
}

func TestTopAndHostTables(t *testing.T) {
	var buf bytes.Buffer
	top := []forge.TopEntry{
		{Name: "shop/web", Container: "shop-web-1", ID: "a", Time: t0.Add(-12 * time.Second), CPU: 98.765, Memory: 300 << 20, MemoryLimit: 512 << 20, PIDs: 12},
		{Name: "blog/app", Container: "blog-app-1", ID: "b", Time: t0.Add(-75 * time.Second), CPU: 0.2, Memory: 7 << 20, PIDs: 1},
	}
	if err := writeTop(&buf, top, t0); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "top", buf.Bytes())
	buf.Reset()
	host := forge.HostStats{EngineVersion: "20.10.24+dfsg1", APIVersion: "1.41", OS: "Debian GNU/Linux 12 (bookworm)", CPUs: 2, Memory: 24 << 30, ContainersRunning: 21, ContainersStopped: 3, Images: 5}
	if err := writeHost(&buf, host); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "host", buf.Bytes())
}

func TestStatsArgumentErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"stats", "shop", "--window", "7d"}, `window "7d" is not a positive Go duration`},
		{[]string{"stats", "shop", "--window", "-5m"}, "not a positive Go duration"},
		{[]string{"stats", "--service", "web"}, "--service needs a project"},
		{[]string{"stats", "shop", "--system"}, "--system shows the host"},
		{[]string{"stats", "a", "b"}, "accepts at most 1 arg"},
		{[]string{"top", "--by", "disk"}, `--by "disk": want cpu or memory`},
		{[]string{"top", "--limit", "0"}, "--limit 0: want 1 to 50"},
		{[]string{"top", "--limit", "51"}, "--limit 51: want 1 to 50"},
	} {
		_, err := run(t, newTestCLI(t), false, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want it to say %q", tt.args, err, tt.want)
		}
	}
}

func TestEngineErrorSaysDockerIsDown(t *testing.T) {
	for _, err := range []error{
		&api.RemoteError{Status: http.StatusServiceUnavailable, Message: "docker engine info: docker engine unreachable"},
		errors.Join(forge.ErrEngineUnavailable, errors.New("dial unix /var/run/docker.sock: connect: no such file")),
	} {
		if got := engineError(err).Error(); !strings.Contains(got, "cannot reach the Docker engine; is dockerd running?") {
			t.Errorf("engineError(%v) = %q", err, got)
		}
	}
	other := &api.RemoteError{Status: http.StatusBadRequest, Message: "bad"}
	if got := engineError(other); got != error(other) {
		t.Errorf("a 400 was turned into %v", got)
	}
}
