package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/collector"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/webhook"
)

func (l *Local) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Stats reads the collector's history from the ledger. A project forge
// knows (by its containers or its deploys) with no samples yet has an empty
// history; one it does not know is dispatch.ErrUnknownProject.
func (l *Local) Stats(ctx context.Context, q StatsQuery) ([]forge.StatSeries, error) {
	if q.Project == "" {
		out, err := collector.Projects(l.Ledger, q.Window, l.now())
		return l.mark(out), err
	}
	out, err := collector.Query(l.Ledger, q.Project, q.Service, q.Window, l.now())
	if err != nil || len(out) > 0 {
		return l.mark(out), err
	}
	known, err := l.knows(ctx, q.Project)
	if err != nil {
		return nil, fmt.Errorf("stats of %s: %w", q.Project, err)
	}
	if !known {
		return nil, fmt.Errorf("stats of %s: %w", q.Project, dispatch.ErrUnknownProject)
	}
	return out, nil
}

// mark names the engine in each series.
func (l *Local) mark(series []forge.StatSeries) []forge.StatSeries {
	for i := range series {
		series[i].Engine = l.Name
	}
	return series
}

// knows reports whether project has containers, deploys or stats history
// (older than the window asked for) that forge has seen.
func (l *Local) knows(ctx context.Context, project string) (bool, error) {
	withStats, err := collector.ProjectNames(l.Ledger)
	if err != nil {
		return false, err
	}
	if slices.Contains(withStats, project) {
		return true, nil
	}
	saved, err := l.Ledger.Projects()
	if err != nil {
		return false, err
	}
	for _, r := range saved {
		if r.Name == project {
			return true, nil
		}
	}
	refs, err := l.Engine.Projects(ctx)
	if err != nil {
		return false, nil // the engine is down: the ledger's answer stands
	}
	for _, r := range refs {
		if r.Name == project {
			return true, nil
		}
	}
	return false, nil
}

// Top reads each container's latest sample from the ledger.
func (l *Local) Top(_ context.Context, by string, limit int) ([]forge.TopEntry, error) {
	return collector.Top(l.Ledger, by, limit, l.now())
}

// System asks the engine for a snapshot of the host.
func (l *Local) System(ctx context.Context) (forge.HostStats, error) {
	return l.Engine.Host(ctx)
}

// Stats asks the daemon for stats history.
func (c *Client) Stats(ctx context.Context, q StatsQuery) ([]forge.StatSeries, error) {
	v := url.Values{}
	if q.Window != "" {
		v.Set("window", q.Window)
	}
	if q.Service != "" {
		v.Set("service", q.Service)
	}
	path := "/api/stats"
	if q.Project != "" {
		path = "/api/projects/" + url.PathEscape(q.Project) + "/stats"
	}
	var out []forge.StatSeries
	err := c.do(ctx, http.MethodGet, path+"?"+v.Encode(), nil, &out)
	return out, err
}

// Top asks the daemon for the heaviest containers.
func (c *Client) Top(ctx context.Context, by string, limit int) ([]forge.TopEntry, error) {
	v := url.Values{"by": {by}, "limit": {strconv.Itoa(limit)}}
	var out []forge.TopEntry
	err := c.do(ctx, http.MethodGet, "/api/system/stats/top?"+v.Encode(), nil, &out)
	return out, err
}

// System asks the daemon for a snapshot of the host.
func (c *Client) System(ctx context.Context) (forge.HostStats, error) {
	var out forge.HostStats
	err := c.do(ctx, http.MethodGet, "/api/system/stats", nil, &out)
	return out, err
}

func (h *handlers) registerStats(sub *mux.Router) {
	sub.Handle("/stats", webhook.Handler(h.stats)).Methods(http.MethodGet)
	sub.Handle("/projects/{name}/stats", webhook.Handler(h.stats)).Methods(http.MethodGet)
	sub.Handle("/system/stats", webhook.Handler(h.system)).Methods(http.MethodGet)
	sub.Handle("/system/stats/top", webhook.Handler(h.top)).Methods(http.MethodGet)
}

func (h *handlers) stats(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if mux.Vars(r)["name"] == "" && q.Get("service") != "" {
		return webhook.Errorf(http.StatusBadRequest, "service needs a project: GET /api/projects/{name}/stats?service=")
	}
	out, err := h.b.Stats(r.Context(), StatsQuery{Project: mux.Vars(r)["name"], Service: q.Get("service"), Window: q.Get("window")})
	if err != nil {
		return h.fail(err)
	}
	return webhook.WriteJSON(w, http.StatusOK, out)
}

func (h *handlers) top(w http.ResponseWriter, r *http.Request) error {
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return webhook.Errorf(http.StatusBadRequest, "limit %q: want a count from 1 to %d", s, collector.MaxTop)
		}
		limit = n
	}
	out, err := h.b.Top(r.Context(), r.URL.Query().Get("by"), limit)
	if err != nil {
		return h.fail(err)
	}
	if !isAdmin(r) {
		out = slices.Clone(out) // the backend's answer is not ours to change
		for i := range out {
			out[i].ID = "" // container IDs are an admin's business
		}
	}
	return webhook.WriteJSON(w, http.StatusOK, out)
}

func (h *handlers) system(w http.ResponseWriter, r *http.Request) error {
	out, err := h.b.System(r.Context())
	if err != nil {
		return h.fail(err)
	}
	return webhook.WriteJSON(w, http.StatusOK, out)
}
