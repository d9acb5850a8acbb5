package web

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/auth"
	"github.com/docker-forge/docker-forge/dispatch"
)

// page is what every page's layout needs.
type page struct {
	L        *Locale
	Now      time.Time
	Title    string
	Page     string // projects, project, logs, system, signin, error
	User     auth.Principal
	SignedIn bool
	// EngineDown says the Docker engine could not be asked: what is shown
	// is what the ledger holds.
	EngineDown bool
	Path       string // the page's own path and query, for the language switch
	Assets     string // the assets' version, for caching
	UsesCharts bool   // the page draws charts (loads uPlot)
	// Context is the engine (docker context) the page is about, from its
	// ?context=: every link and request the page makes carries it on.
	Context string
	Langs   []langLink
}

type langLink struct {
	Lang, Name string
	Current    bool
}

// projectsView is the projects page.
type projectsView struct {
	page
	Projects []projectRow
	// Active says a deploy is queued or running: the page refreshes sooner.
	Active bool
}

type projectRow struct {
	Name, WorkingDir string
	// Engine is the docker context the project runs on; Stack marks a
	// swarm stack.
	Engine           string
	Stack            bool
	Services         []serviceRow
	Last             *deployCell
	CPU, Memory      sparkline
	Error, Attention string
	StateUnknown     bool
}

type serviceRow struct {
	Name, Image string
	// Runs is what the container runs: its registry digest, or the local
	// image ID of a local image.
	Runs    string
	Local   bool
	Enabled bool
	State   string
}

type deployCell struct {
	ID             uint64
	Reason, Status string
	When           time.Time
	Active         bool
	Targets        []target
	// Commit is the git commit a git-sourced project's deploy was at.
	Commit string
}

type target struct{ Service, Digest string }

// sparkline is a small inline SVG line: each run of points without a gap,
// scaled into the box; a gap (no sample) is a break, never a zero.
type sparkline struct {
	Lines []string // SVG polyline point lists
	Now   string   // the newest value, formatted
	Empty bool
}

const sparkW, sparkH = 120.0, 24.0

// newSparkline draws values at times; a jump of more than 2.5 steps in
// time starts a new line.
func newSparkline(times []time.Time, values []float64, format func(float64) string) sparkline {
	if len(values) == 0 {
		return sparkline{Empty: true}
	}
	lo, hi := slices.Min(values), slices.Max(values)
	if hi-lo < 1e-9 {
		hi = lo + 1
	}
	t0, t1 := times[0], times[len(times)-1]
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	step := span / float64(max(len(times)-1, 1))
	var lines []string
	var cur []string
	for i, v := range values {
		if i > 0 && times[i].Sub(times[i-1]).Seconds() > 2.5*step && len(cur) > 0 {
			lines, cur = append(lines, strings.Join(cur, " ")), nil
		}
		x := times[i].Sub(t0).Seconds() / span * sparkW
		y := sparkH - 1 - (v-lo)/(hi-lo)*(sparkH-2)
		cur = append(cur, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	if len(cur) == 1 {
		cur = append(cur, cur[0]) // one point still shows
	}
	lines = append(lines, strings.Join(cur, " "))
	return sparkline{Lines: lines, Now: format(values[len(values)-1])}
}

// serviceRows are a project's services as the pages list them.
func serviceRows(ss []api.ServiceStatus) []serviceRow {
	out := make([]serviceRow, 0, len(ss))
	for _, s := range ss {
		r := serviceRow{Name: s.Name, Image: s.Image, Runs: s.Digest, Enabled: s.Enabled, State: s.State}
		if r.Runs == "" && s.ImageID != "" {
			r.Runs, r.Local = s.ImageID, true
		}
		out = append(out, r)
	}
	return out
}

func newDeployCell(d *forge.Deploy) *deployCell {
	if d == nil {
		return nil
	}
	c := &deployCell{ID: d.ID, Reason: string(d.Reason), Status: string(d.Status), When: cmpTime(d.Finished, d.Started, d.Queued), Active: !d.Status.Final(), Commit: d.Commit}
	if c.Active {
		for _, s := range d.Services {
			if t := s.Target(); t != "" || s.Requested != "" {
				c.Targets = append(c.Targets, target{Service: s.Service, Digest: firstNonEmpty(t, s.Requested)})
			}
		}
	}
	return c
}

// projectRows builds the projects page's rows, with sparklines of each
// project's CPU and memory from its total series.
func projectRows(l *Locale, ps []api.ProjectStatus, totals []forge.StatSeries) ([]projectRow, bool) {
	byProject := map[string]forge.StatSeries{}
	for _, s := range totals {
		if s.Service == "" {
			byProject[s.Engine+"/"+s.Project] = s
		}
	}
	var rows []projectRow
	active := false
	for _, p := range ps {
		row := projectRow{Name: p.Name, WorkingDir: p.WorkingDir, Engine: p.Engine, Stack: p.Stack, Services: serviceRows(p.Services), Last: newDeployCell(p.LastDeploy),
			Error: p.Error, Attention: p.Attention, StateUnknown: p.StateUnknown}
		active = active || row.Last != nil && row.Last.Active
		if len(row.Services) == 0 {
			row.Services = []serviceRow{{}} // a row saying there are none
		}
		times, cpu, mem := seriesValues(byProject[p.Engine+"/"+p.Name])
		row.CPU = newSparkline(times, cpu, l.Percent)
		row.Memory = newSparkline(times, mem, func(v float64) string { return l.Bytes(uint64(v)) })
		rows = append(rows, row)
	}
	return rows, active
}

func seriesValues(s forge.StatSeries) (times []time.Time, cpu, mem []float64) {
	for _, p := range s.Points {
		times = append(times, p.Time)
		cpu = append(cpu, p.CPU)
		mem = append(mem, float64(p.Memory))
	}
	return times, cpu, mem
}

// historyView is a project's deploy history.
type historyView struct {
	L       *Locale
	Now     time.Time
	Project string
	Rows    []historyRow
	// Active says a deploy is queued or running: the page refreshes sooner.
	Active      bool
	CanRollback bool
}

type historyRow struct {
	ID                  uint64
	Reason, Status      string
	Trigger, Who        string
	When                time.Time
	Duration            time.Duration
	Services            []changeRow
	Error               string
	RollbackOf, Reverts uint64
	RevertedBy, Resumes uint64
	Commit, WasCommit   string
	// Summary is what the deploy changed in the configuration, DiffFrom
	// the deploy it is compared with (the success before it).
	Summary  string
	DiffFrom uint64
	// Rollback says this deploy can be returned to: it succeeded and is
	// not what runs now.
	Rollback bool
	Current  bool
	Active   bool
}

// changeRow is one service's part in a deploy: from what to what, and why.
type changeRow struct {
	Service, From, To string
	Why               []string
	Local, Built      bool
	Changed           bool
}

// newHistoryView lists a project's deploys, newest first, marking the one
// that runs now (the newest success) and those a rollback can return to.
func newHistoryView(l *Locale, now time.Time, project string, hist []forge.Deploy, canRollback bool) historyView {
	v := historyView{L: l, Now: now, Project: project, CanRollback: canRollback}
	current := uint64(0)
	for _, d := range hist {
		if d.Status == forge.StatusSucceeded {
			current = d.ID
			break
		}
	}
	for _, d := range hist {
		row := historyRow{
			ID: d.ID, Reason: string(d.Reason), Status: string(d.Status), When: cmpTime(d.Started, d.Queued),
			Error: d.Error, RollbackOf: d.RollbackOf, Reverts: d.Reverts, RevertedBy: d.RevertedBy, Resumes: d.Resumes,
			Commit: d.Commit, WasCommit: d.PreviousCommit, Current: d.ID == current, Active: !d.Status.Final(),
			Rollback: d.Status == forge.StatusSucceeded && d.ID != current,
		}
		if !d.Started.IsZero() && !d.Finished.IsZero() {
			row.Duration = d.Finished.Sub(d.Started)
		}
		row.Trigger, row.Who = d.Trigger.Provider, d.Trigger.User
		if row.Summary = d.ConfigSummary(); row.Summary != "" {
			for _, h := range hist {
				if h.ID < d.ID && h.Status == forge.StatusSucceeded {
					row.DiffFrom = h.ID
					break
				}
			}
		}
		for _, s := range d.Services {
			to := s.Digest
			if row.Active {
				to = firstNonEmpty(s.Target(), s.Requested)
			}
			row.Services = append(row.Services, changeRow{Service: s.Service, From: s.Previous, To: to, Why: s.Why, Local: s.Local, Built: s.Built, Changed: s.Changed})
		}
		v.Active = v.Active || row.Active
		v.Rows = append(v.Rows, row)
	}
	return v
}

// rollbackView is the confirmation of a rollback: exactly what it changes.
type rollbackView struct {
	L         *Locale
	Project   string
	To        uint64
	Changes   []changeRow
	Unchanged []string
	// Commit is the git commit the project returns to, WasCommit the one
	// that runs.
	Commit, WasCommit string
}

// newRollbackView says what a rollback to deploy to changes: each service
// of that deploy from what it runs now (the engine's word when known, else
// the newest successful deploy's) to what that deploy ran.
func newRollbackView(l *Locale, project string, hist []forge.Deploy, to uint64, running []api.ServiceStatus) (rollbackView, bool) {
	v := rollbackView{L: l, Project: project, To: to}
	var target *forge.Deploy
	for i := range hist {
		if hist[i].ID == to {
			target = &hist[i]
		}
	}
	if target == nil || target.Status != forge.StatusSucceeded {
		return v, false
	}
	now := map[string]string{}
	for _, s := range running {
		now[s.Name] = firstNonEmpty(s.Digest, s.ImageID)
	}
	for _, d := range hist { // newest first: the first success is what runs
		if d.Status == forge.StatusSucceeded && v.WasCommit == "" {
			v.WasCommit = d.Commit
		}
		for _, s := range d.Services {
			if _, ok := now[s.Service]; !ok && d.Status == forge.StatusSucceeded && s.Digest != "" {
				now[s.Service] = s.Digest
			}
		}
	}
	v.Commit = target.Commit
	if v.Commit == v.WasCommit {
		v.Commit, v.WasCommit = "", ""
	}
	for _, s := range target.Services {
		if s.Digest == "" {
			continue
		}
		c := changeRow{Service: s.Service, From: now[s.Service], To: s.Digest, Local: s.ByImageID()}
		if c.From == c.To {
			v.Unchanged = append(v.Unchanged, s.Service)
			continue
		}
		v.Changes = append(v.Changes, c)
	}
	return v, true
}

// windowLink is one of the resource panel's windows.
type windowLink struct {
	Window, Label string
	Current       bool
}

// Windows are the resource panel's windows; the long ones read rollups.
var Windows = []string{"15m", "1h", "2h", "6h", "24h", "7d", "30d"}

// DefaultWindow is the resource panel's window unless one is asked for.
const DefaultWindow = "2h"

func windowLinks(l *Locale, current string) []windowLink {
	out := make([]windowLink, 0, len(Windows))
	for _, w := range Windows {
		out = append(out, windowLink{Window: w, Label: l.T("window." + w), Current: w == current})
	}
	return out
}

// projectView is a project's page.
type projectView struct {
	page
	Name, WorkingDir  string
	Engine            string // the docker context it runs on
	Stack             bool   // a swarm stack
	Error, Attention  string
	StateUnknown      bool
	Services          []serviceRow
	History           historyView
	CanDeploy, CanLog bool
	Window            string
	Windows           []windowLink
	ServiceNames      []string
	Chart             chartView
}

// chartView is a resource panel's charts: the series' API address and the
// window; Sum adds every series up (all projects' totals, on the system
// page).
type chartView struct {
	L      *Locale
	Src    string
	Window string
	Sum    bool
}

// systemView is the host's page.
type systemView struct {
	page
	Host    *forge.HostStats
	Top     []forge.TopEntry
	By      string
	Window  string
	Windows []windowLink
	Chart   chartView
}

// diffView is what a deploy changed, field by field.
type diffView struct {
	L    *Locale
	Diff dispatch.Diff
}

// logsView is a service's logs page.
type logsView struct {
	page
	Project  string
	Services []string
	Service  string
}

// signinView is the sign-in page.
type signinView struct {
	page
	Next    string
	Problem string // a catalogue key: why the last try failed
}

// errorView is a page that could not be shown.
type errorView struct {
	page
	Status  int
	Message string // a catalogue key
	Arg     string
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func cmpTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}
