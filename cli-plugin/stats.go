package cliplugin

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/collector"
)

// sparkWidth is how many characters a sparkline spans.
const sparkWidth = 24

func newStatsCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	var (
		q      api.StatsQuery
		asJSON bool
		system bool
	)
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [PROJECT]",
		Short: "Show CPU, memory, network and I/O of compose projects over time",
		Long: `Show what the collector of "docker forge serve" recorded: for a project, one
line per service and one for the project's total, with the latest CPU %,
memory, network and block I/O, and sparklines of CPU and memory over --window;
with no project, one line per project.

CPU % is of one CPU (200% is two full CPUs), summed over a service's
containers. NET I/O and BLOCK I/O are totals since the containers started, as
in docker stats. A blank in a sparkline is a time with no sample; "-" marks a
service not sampled in the last two collector intervals (or 2 minutes).

--window is a Go duration (30m, 6h, 168h), at most what the ledger keeps
(720h by default); longer windows show coarser points (1-minute and 1-hour
rollups). --system shows the Docker host instead.`,
		Example: `  docker forge stats
  docker forge stats shop --window 24h
  docker forge stats shop --service web --json
  docker forge stats --system`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				q.Project = args[0]
			}
			if system && (q.Project != "" || q.Service != "") {
				return errors.New("--system shows the host: give it no project and no --service")
			}
			if q.Service != "" && q.Project == "" {
				return errors.New("--service needs a project: docker forge stats PROJECT --service SERVICE")
			}
			if _, err := collector.ParseWindow(q.Window, collector.Retention{Hour: math.MaxInt64}); err != nil {
				return errors.New(strings.TrimPrefix(err.Error(), collector.ErrBadQuery.Error()+": "))
			}
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			if system {
				h, err := b.System(cmd.Context())
				if err != nil {
					return engineError(err)
				}
				if asJSON {
					return writeJSON(dockerCli.Out(), h)
				}
				return writeHost(dockerCli.Out(), h)
			}
			series, err := b.Stats(cmd.Context(), q)
			if err != nil {
				if api.IsNotFound(err) {
					return fmt.Errorf("no compose project %q: forge has seen no container and no deploy of it", q.Project)
				}
				return err
			}
			if asJSON {
				return writeJSON(dockerCli.Out(), series)
			}
			if len(series) == 0 {
				fmt.Fprintln(dockerCli.Out(), noStats(q))
				return nil
			}
			window, _ := collector.ParseWindow(q.Window, collector.Retention{Hour: math.MaxInt64})
			return writeStats(dockerCli.Out(), series, q.Project == "", time.Now(), window)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&q.Service, "service", "s", "", "show only this service of PROJECT")
	f.StringVarP(&q.Window, "window", "w", "", "how far back the sparklines reach, a Go duration (default 2h)")
	f.BoolVar(&asJSON, "json", false, "print JSON: the series with their points")
	f.BoolVar(&system, "system", false, "show the Docker host: CPUs, memory, containers, images, engine version")
	return cmd
}

func noStats(q api.StatsQuery) string {
	w := q.Window
	if w == "" {
		w = collector.DefaultWindow.String()
	}
	switch {
	case q.Project == "":
		return "no stats recorded yet: \"docker forge serve\" samples compose containers on its --stats-schedule"
	case q.Service != "":
		return fmt.Sprintf("no stats of service %s of %s in the last %s", q.Service, q.Project, w)
	}
	return fmt.Sprintf("no stats of %s in the last %s: are its containers running, and \"docker forge serve\" with its collector on?", q.Project, w)
}

// engineError says plainly that Docker is down, from the daemon's 503 or
// the engine's own error.
func engineError(err error) error {
	re, remote := errors.AsType[*api.RemoteError](err)
	if errors.Is(err, forge.ErrEngineUnavailable) || remote && re.Status == http.StatusServiceUnavailable {
		return fmt.Errorf("cannot reach the Docker engine; is dockerd running? (%w)", err)
	}
	return err
}

func writeStats(w io.Writer, series []forge.StatSeries, byProject bool, now time.Time, window time.Duration) error {
	if len(series) > 0 && series[0].Engine != "" {
		fmt.Fprintf(w, "Engine: %s\n", series[0].Engine)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	first := "SERVICE"
	if byProject {
		first = "PROJECT"
	}
	fmt.Fprintf(tw, "%s\tCPU %%\tMEM USAGE / LIMIT\tNET I/O\tBLOCK I/O\tPIDS\tCPU (%s)\tMEM (%s)\n", first, shortDuration(window), shortDuration(window))
	for _, s := range series {
		name := s.Service
		switch {
		case byProject:
			name = s.Project
		case name == "":
			name = "(total)"
		}
		cpu := sparkline(s.Points, time.Duration(s.Step), now.Add(-window), window, func(p forge.StatPoint) float64 { return p.CPU })
		mem := sparkline(s.Points, time.Duration(s.Step), now.Add(-window), window, func(p forge.StatPoint) float64 { return float64(p.Memory) })
		if s.Current == nil {
			// Not sampled lately (stopped, or the collector is off): old
			// values are not shown as current.
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t%s\t%s\n", name, cpu, mem)
			continue
		}
		cur := *s.Current
		fmt.Fprintf(tw, "%s\t%.2f%%\t%s / %s\t%s / %s\t%s / %s\t%d\t%s\t%s\n", name, cur.CPU,
			units.BytesSize(float64(cur.Memory)), limit(cur.MemoryLimit),
			units.HumanSizeWithPrecision(float64(cur.NetRx), 3), units.HumanSizeWithPrecision(float64(cur.NetTx), 3),
			units.HumanSizeWithPrecision(float64(cur.BlockRead), 3), units.HumanSizeWithPrecision(float64(cur.BlockWrite), 3),
			cur.PIDs, cpu, mem)
	}
	return tw.Flush()
}

func limit(l uint64) string {
	if l == 0 {
		return "unlimited"
	}
	return units.BytesSize(float64(l))
}

// shortDuration drops a Duration's zero minutes and seconds: 2h, 90m, 24h.
func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

var sparks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws value over the window starting at from, sparkWidth
// characters wide. A point stands for the period from its time to the next
// point's, or step when the points are rollups of that period; each
// character is the average of the points over it, scaled from zero to the
// largest, and a blank where no point stands.
func sparkline(points []forge.StatPoint, step time.Duration, from time.Time, window time.Duration, value func(forge.StatPoint) float64) string {
	if window <= 0 {
		return ""
	}
	span := step
	if span == 0 {
		span = smallestGap(points)
	}
	var sum [sparkWidth]float64
	var n [sparkWidth]int
	cell := func(t time.Time) int { return int(t.Sub(from) * sparkWidth / window) }
	for _, p := range points {
		first := cell(p.Time)
		last := max(first, cell(p.Time.Add(span))-1)
		for i := max(first, 0); i <= min(last, sparkWidth-1); i++ {
			sum[i] += value(p)
			n[i]++
		}
	}
	top := 0.0
	for i := range sum {
		if n[i] > 0 {
			sum[i] /= float64(n[i])
			top = max(top, sum[i])
		}
	}
	var b strings.Builder
	for i := range sum {
		switch {
		case n[i] == 0:
			b.WriteRune(' ')
		case top == 0:
			b.WriteRune(sparks[0])
		default:
			b.WriteRune(sparks[min(int(sum[i]/top*float64(len(sparks))), len(sparks)-1)])
		}
	}
	return b.String()
}

// smallestGap is the shortest time between two points: the collector's
// interval, for samples.
func smallestGap(points []forge.StatPoint) time.Duration {
	var gap time.Duration
	for i := 1; i < len(points); i++ {
		if d := points[i].Time.Sub(points[i-1].Time); d > 0 && (gap == 0 || d < gap) {
			gap = d
		}
	}
	return gap
}

func writeHost(w io.Writer, h forge.HostStats) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	version := h.EngineVersion
	if h.APIVersion != "" {
		version += " (API " + h.APIVersion + ")"
	}
	fmt.Fprintf(tw, "Engine:\t%s\n", version)
	if h.OS != "" {
		fmt.Fprintf(tw, "OS:\t%s\n", h.OS)
	}
	fmt.Fprintf(tw, "CPUs:\t%d\n", h.CPUs)
	fmt.Fprintf(tw, "Memory:\t%s\n", units.BytesSize(float64(h.Memory)))
	fmt.Fprintf(tw, "Containers:\t%d running, %d stopped, %d paused\n", h.ContainersRunning, h.ContainersStopped, h.ContainersPaused)
	fmt.Fprintf(tw, "Images:\t%d\n", h.Images)
	return tw.Flush()
}

func newTopCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	var (
		by     string
		n      int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use: "top [OPTIONS]",
		// Every engine's containers, unless one is named.
		Annotations: map[string]string{annotationAllEngines: "true"},
		Short:       "Show the compose containers using the most CPU or memory",
		Long: `Show the compose containers using the most CPU or memory, from each one's
latest sample by the collector of "docker forge serve" (samples older than
twice its interval, or 2 minutes, are left out). NAME is project/service.`,
		Example: `  docker forge top
  docker forge top --by memory --limit 5 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if by != string(collector.ByCPU) && by != string(collector.ByMemory) {
				return fmt.Errorf("--by %q: want cpu or memory", by)
			}
			if n < 1 || n > collector.MaxTop {
				return fmt.Errorf("--limit %d: want 1 to %d", n, collector.MaxTop)
			}
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			top, err := b.Top(cmd.Context(), by, n)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(dockerCli.Out(), top)
			}
			if len(top) == 0 {
				fmt.Fprintln(dockerCli.Out(), "no recent container samples: is \"docker forge serve\" running with its collector on?")
				return nil
			}
			return writeTop(dockerCli.Out(), top, time.Now())
		},
	}
	f := cmd.Flags()
	f.StringVar(&by, "by", string(collector.ByCPU), "sort by cpu or memory")
	f.IntVarP(&n, "limit", "n", 10, fmt.Sprintf("show at most this many containers (1 to %d)", collector.MaxTop))
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeTop(w io.Writer, top []forge.TopEntry, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tENGINE\tCONTAINER\tCPU %\tMEM USAGE / LIMIT\tPIDS\tSAMPLED")
	for _, e := range top {
		age := max(now.Sub(e.Time).Round(time.Second), 0)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f%%\t%s / %s\t%d\t%s ago\n", e.Name, orDash(e.Engine), e.Container, e.CPU,
			units.BytesSize(float64(e.Memory)), limit(e.MemoryLimit), e.PIDs, age)
	}
	return tw.Flush()
}
