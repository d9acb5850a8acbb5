// Package collector samples the resource use of every compose container on
// a robfig/cron schedule, sums it per project and per service, and keeps the
// history in the ledger: raw samples, then 1-minute and 1-hour rollups, each
// for its own retention, so the ledger stays bounded however long it runs.
// Queries (Query, Projects, Top) read that history back, whether or not the
// daemon runs.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

// Engine is what the collector asks of Docker.
type Engine interface {
	// StatsTargets lists the running compose containers.
	StatsTargets(ctx context.Context) ([]forge.ContainerSample, error)
	// ContainerStats reads one container; with previous, the engine takes
	// two readings and returns the earlier one's CPU counters too. A
	// container that stopped answers an error wrapping ErrNotRunning.
	ContainerStats(ctx context.Context, target forge.ContainerSample, previous bool) (forge.ContainerSample, error)
}

// Ledger is where the collector keeps what it samples.
type Ledger interface {
	Store
	WriteStats(w ledger.StatsWrite) error
	SaveStatsMeta(key string, v any) error
}

// Config configures a Collector.
type Config struct {
	Engine Engine
	Ledger Ledger
	Logger *slog.Logger
	// Schedule is a robfig/cron spec ("@every 15s", "*/1 * * * *"); "off"
	// disables the collector; "" is DefaultSchedule.
	Schedule  string
	Retention Retention
	// Concurrency bounds the stats calls in flight; 0 means 256. The engine
	// answers each at its next one-second sampling tick, so calls made
	// together all return after about a second.
	Concurrency int
	// ErrNotRunning is the engine's error for a container that stopped
	// between listing and reading.
	ErrNotRunning error
	// Metrics receives the per-service gauges and the collector's own
	// figures; nil means none.
	Metrics *Metrics
	Now     func() time.Time
}

// Collector samples containers on its schedule. Collect may also be called
// directly.
type Collector struct {
	cfg      Config
	log      *slog.Logger
	schedule cron.Schedule
	interval time.Duration
	mu       sync.Mutex // one run at a time
	prev     map[string]forge.ContainerSample
	// rolled is, per rollup tier, the end of the last period rolled up.
	rolled map[string]time.Time
}

// ErrOff is returned by New for the schedule "off".
var ErrOff = errors.New("collector is off")

// New checks cfg and returns a Collector.
func New(cfg Config) (*Collector, error) {
	if cfg.Schedule == "" {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.Schedule == "off" {
		return nil, ErrOff
	}
	if cfg.Retention == (Retention{}) {
		cfg.Retention = DefaultRetention
	}
	if err := cfg.Retention.check(); err != nil {
		return nil, err
	}
	sched, err := cron.ParseStandard(cfg.Schedule)
	if err != nil {
		return nil, fmt.Errorf("stats schedule %q: %w", cfg.Schedule, err)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 256
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now()
	next := sched.Next(now)
	return &Collector{
		cfg: cfg, log: log.With("component", "collector"), schedule: sched,
		interval: sched.Next(next).Sub(next),
		prev:     map[string]forge.ContainerSample{}, rolled: map[string]time.Time{},
	}, nil
}

func (r Retention) check() error {
	switch {
	case r.Raw < 2*time.Minute:
		return fmt.Errorf("raw stats retention %s: want at least 2m, so minutes can be rolled up", r.Raw)
	case r.Minute < 2*time.Hour:
		return fmt.Errorf("1-minute rollup retention %s: want at least 2h, so hours can be rolled up", r.Minute)
	case r.Hour < 2*time.Hour:
		return fmt.Errorf("1-hour rollup retention %s: want at least 2h", r.Hour)
	}
	return nil
}

// Interval is the time between two scheduled runs.
func (c *Collector) Interval() time.Duration { return c.interval }

// Run samples at once (so the first scheduled run has readings to compute
// CPU from), then on the schedule until ctx ends; a run still going when
// the next is due makes that one skip, and a panic in a run is logged and
// recovered. It waits for a running collection before it returns.
func (c *Collector) Run(ctx context.Context) error {
	err := c.cfg.Ledger.SaveStatsMeta(settingsKey, settings{Interval: c.interval, Retention: c.cfg.Retention})
	if err != nil {
		return err
	}
	l := forge.CronLog{Log: c.log}
	// Skip outside Recover: robfig's skip wrapper gives its token back only
	// when the job returns, so a panic that got past it would make every
	// later run skip.
	job := cron.NewChain(cron.SkipIfStillRunning(l), cron.Recover(l)).Then(cron.FuncJob(func() {
		if _, err := c.Collect(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("stats collection failed", "error", err)
		}
	}))
	sched := cron.New(cron.WithChain())
	sched.Schedule(c.schedule, job)
	job.Run()
	sched.Start()
	c.log.Info("collecting container stats", "schedule", c.cfg.Schedule, "interval", c.interval)
	<-ctx.Done()
	<-sched.Stop().Done()
	return nil
}

// Result tells what one collection did.
type Result struct {
	Time       time.Time     `json:"time"`
	Containers int           `json:"containers"`
	Sampled    int           `json:"sampled"`
	Vanished   int           `json:"vanished"`
	Failed     int           `json:"failed"`
	Duration   time.Duration `json:"duration"`
}

// Collect samples every running compose container once, stores the sums per
// service and project and the rollups that came due, and prunes what
// retention no longer keeps. A container that stops mid-run, or whose
// reading fails, is left out of this point rather than counted as zero; an
// engine that cannot be reached stores nothing (a gap).
func (c *Collector) Collect(ctx context.Context) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := c.cfg.Now()
	res := Result{Time: start.UTC().Truncate(time.Second)}
	ctx, cancel := context.WithTimeout(ctx, max(c.interval, 10*time.Second))
	defer cancel()
	err := c.collect(ctx, &res)
	res.Duration = c.cfg.Now().Sub(start)
	if err != nil {
		// No gauge keeps a value the collector could not read again.
		c.cfg.Metrics.setServices(nil)
	}
	c.cfg.Metrics.observeRun(res, err)
	c.log.Debug("stats collected", "containers", res.Containers, "sampled", res.Sampled, "vanished", res.Vanished, "failed", res.Failed, "duration", res.Duration)
	return res, err
}

func (c *Collector) collect(ctx context.Context, res *Result) error {
	targets, err := c.cfg.Engine.StatsTargets(ctx)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	res.Containers = len(targets)
	readings, failed, err := c.read(ctx, targets, res)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("collection cut short: %w", ctx.Err())
	}
	series := aggregate(res.Time, readings, failed)
	w := ledger.StatsWrite{Series: map[string][]forge.StatSeries{TierRaw: series}}
	for _, r := range readings {
		w.Latest = append(w.Latest, forge.TopEntry{
			Name: r.Project + "/" + r.Service, Container: r.Name, ID: r.ID, Time: res.Time,
			CPU: r.CPU, Memory: r.Memory, MemoryLimit: r.MemoryLimit, PIDs: r.PIDs,
		})
	}
	if err := c.cfg.Ledger.WriteStats(w); err != nil {
		return err
	}
	c.cfg.Metrics.setServices(series)
	return c.rollUp(res.Time)
}

// read takes a reading of every target in parallel. A container forge has
// read before is read once and its CPU worked out against that reading; a
// new one, or one whose counters went back (it restarted), is read with the
// engine's own earlier reading.
//
// failed names the services (and so their projects) that had a container
// whose reading failed for another reason than its stopping: their sums
// would be short, so this run stores no point for them.
func (c *Collector) read(ctx context.Context, targets []forge.ContainerSample, res *Result) ([]reading, map[[2]string]bool, error) {
	results := make([]reading, len(targets))
	errs := make([]error, len(targets))
	sem := make(chan struct{}, c.cfg.Concurrency)
	var wg sync.WaitGroup
	var readOne func(i int, previous bool)
	readOne = func(i int, previous bool) {
		s, err := c.cfg.Engine.ContainerStats(ctx, targets[i], previous)
		if err != nil {
			errs[i] = err
			return
		}
		prev, seen := c.prev[s.ID]
		var p *forge.ContainerSample
		if seen {
			p = &prev
		}
		pct, ok := cpuPercent(p, s)
		switch {
		case !ok && !previous:
			readOne(i, true) // a restart reset its counters
		case !ok:
			errs[i] = fmt.Errorf("stats of %s: no earlier CPU reading to compare with", s.Name)
		default:
			results[i] = reading{ContainerSample: s, CPU: pct}
		}
	}
	for i, t := range targets {
		_, seen := c.prev[t.ID]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			// cron recovers the run's own goroutine, not this one.
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("stats of %s: panic: %v", targets[i].Name, r)
				}
			}()
			readOne(i, !seen)
		})
	}
	wg.Wait()
	next := make(map[string]forge.ContainerSample, len(targets))
	out := make([]reading, 0, len(targets))
	failed := map[[2]string]bool{}
	var lastErr error
	for i, err := range errs {
		switch {
		case err == nil:
			out = append(out, results[i])
			next[results[i].ID] = results[i].ContainerSample
		case c.cfg.ErrNotRunning != nil && errors.Is(err, c.cfg.ErrNotRunning):
			res.Vanished++
		default:
			res.Failed++
			lastErr = err
			failed[[2]string{targets[i].Project, targets[i].Service}] = true
			if prev, ok := c.prev[targets[i].ID]; ok {
				next[targets[i].ID] = prev // the next run computes CPU from it
			}
			c.log.Debug("container stats not read", "container", targets[i].Name, "error", err)
		}
	}
	c.prev = next
	res.Sampled = len(out)
	if len(out) == 0 && lastErr != nil {
		return nil, nil, fmt.Errorf("read %d containers: %w", res.Failed, lastErr)
	}
	return out, failed, nil
}

// rollUp rolls samples into 1-minute points, and those into 1-hour points,
// for each period that ended since the last run, then prunes each tier to
// its retention. It is cheap when no period ended.
func (c *Collector) rollUp(now time.Time) error {
	for _, step := range []struct {
		src, dst string
		period   time.Duration
		keep     time.Duration
	}{
		{TierRaw, TierMinute, time.Minute, c.cfg.Retention.Minute},
		{TierMinute, TierHour, time.Hour, c.cfg.Retention.Hour},
	} {
		end := now.Truncate(step.period)
		if !end.After(c.rolled[step.dst]) {
			continue
		}
		series, err := c.rollupsUntil(step.src, step.dst, step.period, end)
		if err != nil {
			return err
		}
		w := ledger.StatsWrite{
			Series: map[string][]forge.StatSeries{step.dst: series},
			Prune:  map[string]time.Time{step.dst: now.Add(-step.keep)},
		}
		if step.src == TierRaw {
			w.Prune[TierRaw] = now.Add(-c.cfg.Retention.Raw)
			w.LatestBefore = now.Add(-2 * TopWindow(c.interval))
		}
		if err := c.cfg.Ledger.WriteStats(w); err != nil {
			return fmt.Errorf("store %s rollups: %w", step.dst, err)
		}
		c.rolled[step.dst] = end
	}
	return nil
}

// rollupsUntil rolls up, per project, the src points after the last dst
// point (or all of them) up to end.
func (c *Collector) rollupsUntil(src, dst string, period time.Duration, end time.Time) ([]forge.StatSeries, error) {
	projects, err := c.cfg.Ledger.StatsProjects(src)
	if err != nil {
		return nil, err
	}
	var out []forge.StatSeries
	for _, p := range projects {
		from, _, _, err := c.cfg.Ledger.StatsSpan(src, p)
		if err != nil {
			return nil, err
		}
		if _, last, ok, err := c.cfg.Ledger.StatsSpan(dst, p); err != nil {
			return nil, err
		} else if ok {
			from = last.Add(period)
		}
		if !from.Before(end) {
			continue
		}
		pts, err := c.cfg.Ledger.StatsRange(src, p, from, end)
		if err != nil {
			return nil, err
		}
		for svc, list := range pts {
			out = append(out, forge.StatSeries{Project: p, Service: svc, Step: forge.Duration(period), Points: downsample(list, period)})
		}
	}
	return out, nil
}
