package collector

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/docker-forge/docker-forge"
)

// Tier names: the collector's samples and their rollups.
const (
	TierRaw    = "raw"
	TierMinute = "1m"
	TierHour   = "1h"
)

// Defaults of the collector's schedule and retention.
const (
	DefaultSchedule = "@every 15s"
	DefaultWindow   = 2 * time.Hour
	// MaxPoints bounds the points of a series a query returns: a longer
	// window gets coarser points, not more of them.
	MaxPoints = 120
	// MaxTop bounds `top`'s limit; DefaultTop is the limit when none is given.
	MaxTop     = 50
	DefaultTop = 10
)

// Retention is how long each tier is kept.
type Retention struct {
	Raw    time.Duration `json:"raw"`
	Minute time.Duration `json:"minute"`
	Hour   time.Duration `json:"hour"`
}

// DefaultRetention keeps samples for 2 hours, 1-minute rollups for 48 hours
// and 1-hour rollups for 30 days.
var DefaultRetention = Retention{Raw: 2 * time.Hour, Minute: 48 * time.Hour, Hour: 30 * 24 * time.Hour}

// Longest is the oldest history any tier keeps: the widest window a query
// may ask for.
func (r Retention) Longest() time.Duration { return max(r.Raw, r.Minute, r.Hour) }

type tier struct {
	name string
	step time.Duration // 0: as sampled
	keep time.Duration
}

func (r Retention) tiers() []tier {
	return []tier{{TierRaw, 0, r.Raw}, {TierMinute, time.Minute, r.Minute}, {TierHour, time.Hour, r.Hour}}
}

// settings are what readers of the stats need to know of the collector
// that wrote them; it stores them in the ledger when it starts.
type settings struct {
	Interval  time.Duration `json:"interval"`
	Retention Retention     `json:"retention"`
}

const settingsKey = "collector"

// Store is the part of the ledger that queries read.
type Store interface {
	StatsRange(tier, project string, from, to time.Time, services ...string) (map[string][]forge.StatPoint, error)
	ScanStats(tier, project string, from, to time.Time, services []string, fn func(service string, p forge.StatPoint)) error
	StatsSpan(tier, project string) (first, last time.Time, ok bool, err error)
	StatsProjects(tier string) ([]string, error)
	Latest(since time.Time) ([]forge.TopEntry, error)
	StatsMeta(key string, v any) (bool, error)
}

// ErrBadQuery marks a window, sort key or limit that cannot be answered.
var ErrBadQuery = errors.New("bad stats query")

func readSettings(st Store) (settings, error) {
	s := settings{Interval: 15 * time.Second, Retention: DefaultRetention}
	if _, err := st.StatsMeta(settingsKey, &s); err != nil {
		return s, err
	}
	return s, nil
}

// ParseWindow checks a window, a Go duration such as 30m or 24h ("" is the
// default, 2h), against the longest retention.
func ParseWindow(s string, r Retention) (time.Duration, error) {
	if s == "" {
		return min(DefaultWindow, r.Longest()), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: window %q is not a positive Go duration such as 30m, 6h or 168h", ErrBadQuery, s)
	}
	if d > r.Longest() {
		return 0, fmt.Errorf("%w: window %s is longer than the stats kept (%s)", ErrBadQuery, s, r.Longest())
	}
	return d, nil
}

// ProjectNames lists, sorted, the projects with stats in any tier.
func ProjectNames(st Store) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	for _, t := range DefaultRetention.tiers() {
		ps, err := st.StatsProjects(t.name)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				names = append(names, p)
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

// settingsAndWindow reads the collector's settings and checks window
// against its retention.
func settingsAndWindow(st Store, window string) (settings, time.Duration, error) {
	set, err := readSettings(st)
	if err != nil {
		return set, 0, err
	}
	w, err := ParseWindow(window, set.Retention)
	return set, w, err
}

// Query is one project's history over window, by service; the series with
// an empty service is the project's total. With service set, only that
// service's series is returned. No samples yet is an empty answer.
func Query(st Store, project, service, window string, now time.Time) ([]forge.StatSeries, error) {
	set, w, err := settingsAndWindow(st, window)
	if err != nil {
		return nil, err
	}
	var services []string
	if service != "" {
		services = []string{service}
	}
	return query(st, set, project, w, now, services)
}

// Projects is the total of every project that has stats, over window.
func Projects(st Store, window string, now time.Time) ([]forge.StatSeries, error) {
	set, w, err := settingsAndWindow(st, window)
	if err != nil {
		return nil, err
	}
	names, err := ProjectNames(st)
	if err != nil {
		return nil, err
	}
	out := []forge.StatSeries{}
	for _, p := range names {
		s, err := query(st, set, p, w, now, []string{""})
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	return out, nil
}

func query(st Store, set settings, project string, window time.Duration, now time.Time, services []string) ([]forge.StatSeries, error) {
	from := now.Add(-window)
	t, ok, err := chooseTier(st, set.Retention, project, from, window)
	if err != nil || !ok {
		return []forge.StatSeries{}, err
	}
	// Past MaxPoints a series is read into coarser buckets as it streams
	// by, so a long window costs neither memory nor a second pass.
	step := t.step
	if per := max(t.step, set.Interval, time.Second); window/per > MaxPoints {
		step = bucketStep(window, t.step)
	}
	type acc struct {
		series      *forge.StatSeries
		bucket, end time.Time
		buf         []forge.StatPoint
	}
	flush := func(a *acc) {
		if len(a.buf) > 0 {
			a.series.Points = append(a.series.Points, rollup(a.bucket, a.buf))
			a.buf = a.buf[:0]
		}
	}
	accs := map[string]*acc{}
	var a *acc // the series being read: they come one after the other
	err = st.ScanStats(t.name, project, from, now.Add(time.Second), services, func(svc string, p forge.StatPoint) {
		if a == nil || a.series.Service != svc {
			if a = accs[svc]; a == nil {
				a = &acc{series: &forge.StatSeries{Project: project, Service: svc, Step: forge.Duration(step), Points: make([]forge.StatPoint, 0, MaxPoints+1)}}
				accs[svc] = a
			}
		}
		if step == t.step {
			a.series.Points = append(a.series.Points, p)
			return
		}
		if p.Time.Before(a.bucket) || !p.Time.Before(a.end) {
			flush(a)
			a.bucket = p.Time.Truncate(step)
			a.end = a.bucket.Add(step)
		}
		a.buf = append(a.buf, p)
	})
	if err != nil {
		return nil, err
	}
	current, err := currentPoints(st, project, now.Add(-TopWindow(set.Interval)), services)
	if err != nil {
		return nil, err
	}
	out := make([]forge.StatSeries, 0, len(accs))
	for svc, a := range accs {
		flush(a)
		if c, ok := current[svc]; ok {
			a.series.Current = &c
		}
		out = append(out, *a.series)
	}
	sortSeries(out)
	return out, nil
}

// chooseTier picks the finest tier whose points reach back to the window's
// start; when none does (the collector has not run that long), the one that
// reaches furthest back by the hour, the finer on a tie: a rollup's time is
// rounded down to its period, so the 1-minute tier of a project younger than
// the window always starts a little before its samples do.
func chooseTier(st Store, r Retention, project string, from time.Time, window time.Duration) (tier, bool, error) {
	var best tier
	var bestFirst time.Time
	found := false
	for _, t := range r.tiers() {
		first, _, ok, err := st.StatsSpan(t.name, project)
		if err != nil {
			return tier{}, false, err
		}
		if !ok {
			continue
		}
		// A tier covers the window when its oldest point is within a tenth
		// of the window from the start: pruning keeps raw samples just
		// short of their retention.
		if !first.After(from.Add(window / 10)) {
			return t, true, nil
		}
		if first = first.Truncate(time.Hour); !found || first.Before(bestFirst) {
			best, bestFirst, found = t, first, true
		}
	}
	return best, found, nil
}

// currentPoints are the newest samples of a project's series taken since
// fresh: a service sampled before then (stopped, or the collector is off)
// has no current values, rather than old ones shown as current.
func currentPoints(st Store, project string, fresh time.Time, services []string) (map[string]forge.StatPoint, error) {
	out := map[string]forge.StatPoint{}
	err := st.ScanStats(TierRaw, project, fresh, fresh.Add(24*time.Hour), services, func(svc string, p forge.StatPoint) {
		out[svc] = p // in time order: the last one stays
	})
	return out, err
}

// bucketStep is the period of a query's points: long enough that a window
// not aligned to it spans at most MaxPoints of them, rounded up to a whole
// multiple of the tier's step (a second for samples).
func bucketStep(window, tierStep time.Duration) time.Duration {
	unit := max(tierStep, time.Second)
	per := window / (MaxPoints - 1)
	n := (per + unit - 1) / unit
	return max(n, 1) * unit
}

// TopBy is what `top` sorts by.
type TopBy string

// The keys `top` sorts by.
const (
	ByCPU    TopBy = "cpu"
	ByMemory TopBy = "memory"
)

// Top is the heaviest containers by CPU or memory, from each container's
// latest sample within max(2 × the collector's interval, 2 minutes).
func Top(st Store, by string, limit int, now time.Time) ([]forge.TopEntry, error) {
	if by == "" {
		by = string(ByCPU)
	}
	if TopBy(by) != ByCPU && TopBy(by) != ByMemory {
		return nil, fmt.Errorf("%w: sort by %q: want cpu or memory", ErrBadQuery, by)
	}
	if limit == 0 {
		limit = DefaultTop
	}
	if limit < 1 || limit > MaxTop {
		return nil, fmt.Errorf("%w: limit %d: want 1 to %d", ErrBadQuery, limit, MaxTop)
	}
	set, err := readSettings(st)
	if err != nil {
		return nil, err
	}
	entries, err := st.Latest(now.Add(-TopWindow(set.Interval)))
	if err != nil {
		return nil, err
	}
	entries = withoutReplaced(entries)
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if TopBy(by) == ByMemory && a.Memory != b.Memory {
			return a.Memory > b.Memory
		}
		if a.CPU != b.CPU {
			return a.CPU > b.CPU
		}
		if a.Memory != b.Memory {
			return a.Memory > b.Memory
		}
		return a.Name+a.Container < b.Name+b.Container
	})
	if len(entries) > limit {
		entries = entries[:limit]
	}
	if entries == nil {
		entries = []forge.TopEntry{}
	}
	return entries, nil
}

// withoutReplaced drops the containers a service no longer runs: those
// whose latest sample is older than the newest of their service's (a
// recreate made a new container, sampled since). The replicas of a scaled
// service are sampled in the same run, so they all stay.
func withoutReplaced(entries []forge.TopEntry) []forge.TopEntry {
	newest := map[string]time.Time{}
	for _, e := range entries {
		if e.Time.After(newest[e.Name]) {
			newest[e.Name] = e.Time
		}
	}
	out := entries[:0]
	for _, e := range entries {
		if !e.Time.Before(newest[e.Name]) {
			out = append(out, e)
		}
	}
	return out
}

// TopWindow is how old a container's latest sample may be and still count
// in `top`: max(2 × interval, 2 minutes).
func TopWindow(interval time.Duration) time.Duration {
	return max(2*interval, 2*time.Minute)
}
