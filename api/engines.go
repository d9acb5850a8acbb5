package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/collector"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/ledger"
)

// ErrUnknownEngine is returned for a request naming an engine (a docker
// context) the daemon does not drive.
var ErrUnknownEngine = errors.New("engine not driven by this docker-forge")

type engineKey struct{}

// WithEngine names the engine (docker context) a request is about; the
// Client sends it as ?context=, the server reads it back.
func WithEngine(ctx context.Context, name string) context.Context {
	if name == "" {
		return ctx
	}
	return context.WithValue(ctx, engineKey{}, name)
}

// EngineFrom is the engine WithEngine named, "" for none.
func EngineFrom(ctx context.Context) string {
	s, _ := ctx.Value(engineKey{}).(string)
	return s
}

// EngineParam puts a request's ?context= into its context, for the
// handlers behind it.
func EngineParam(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name := r.URL.Query().Get("context"); name != "" {
			r = r.WithContext(WithEngine(r.Context(), name))
		}
		next.ServeHTTP(w, r)
	})
}

// withEngine adds the engine ctx names to an API path, as ?context=.
func withEngine(ctx context.Context, path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + engineParam(ctx, sep)
}

func engineParam(ctx context.Context, sep string) string {
	if name := EngineFrom(ctx); name != "" {
		return sep + "context=" + url.QueryEscape(name)
	}
	return ""
}

// Engines answers for several engines, each a Local named by its docker
// context: a request goes to the engine its context names (WithEngine),
// the first one when it names none. Listings that name no engine (projects,
// top) cover them all. Tokens and notification channels are the daemon's,
// shared by every engine.
type Engines []*Local

// Names lists the engines in order.
func (e Engines) Names() []string {
	out := make([]string, len(e))
	for i, l := range e {
		out[i] = l.Name
	}
	return out
}

func (e Engines) pick(ctx context.Context) (*Local, error) {
	name := EngineFrom(ctx)
	if name == "" {
		return e[0], nil
	}
	for _, l := range e {
		if l.Name == name {
			return l, nil
		}
	}
	return nil, fmt.Errorf("%w: %q (it drives %s; see serve --context)", ErrUnknownEngine, name, strings.Join(e.Names(), ", "))
}

// Deploy runs a manual deploy on the named engine.
func (e Engines) Deploy(ctx context.Context, req dispatch.Request) (forge.Deploy, error) {
	l, err := e.pick(ctx)
	if err != nil {
		return forge.Deploy{}, err
	}
	return l.Deploy(ctx, req)
}

// Rollback replays an earlier deploy on the named engine.
func (e Engines) Rollback(ctx context.Context, req dispatch.RollbackRequest) (forge.Deploy, error) {
	l, err := e.pick(ctx)
	if err != nil {
		return forge.Deploy{}, err
	}
	return l.Rollback(ctx, req)
}

// History is a project's deploys on the named engine.
func (e Engines) History(ctx context.Context, project string, limit int) ([]forge.Deploy, error) {
	l, err := e.pick(ctx)
	if err != nil {
		return nil, err
	}
	return l.History(ctx, project, limit)
}

// Projects lists the named engine's projects, or every engine's.
func (e Engines) Projects(ctx context.Context) ([]ProjectStatus, error) {
	if EngineFrom(ctx) != "" {
		l, err := e.pick(ctx)
		if err != nil {
			return nil, err
		}
		return l.Projects(ctx)
	}
	out := []ProjectStatus{}
	var errs []error
	for _, l := range e {
		ps, err := l.Projects(ctx)
		if err != nil {
			// An engine that is down and never deployed to lists nothing;
			// the others still answer.
			errs = append(errs, fmt.Errorf("engine %s: %w", l.Name, err))
			continue
		}
		out = append(out, ps...)
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(out, func(a, b ProjectStatus) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Engine, b.Engine))
	})
	return out, nil
}

// Project is one project's status on the named engine.
func (e Engines) Project(ctx context.Context, name string) (ProjectStatus, error) {
	l, err := e.pick(ctx)
	if err != nil {
		return ProjectStatus{}, err
	}
	return l.Project(ctx, name)
}

// Stats is stats history on the named engine; with neither an engine nor a
// project named, every engine's projects' totals (each series says its
// engine).
func (e Engines) Stats(ctx context.Context, q StatsQuery) ([]forge.StatSeries, error) {
	if EngineFrom(ctx) == "" && q.Project == "" && len(e) > 1 {
		var all []forge.StatSeries
		for _, l := range e {
			s, err := l.Stats(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("engine %s: %w", l.Name, err)
			}
			all = append(all, s...)
		}
		return all, nil
	}
	l, err := e.pick(ctx)
	if err != nil {
		return nil, err
	}
	return l.Stats(ctx, q)
}

// Top is the heaviest containers of the named engine, or of every engine.
func (e Engines) Top(ctx context.Context, by string, limit int) ([]forge.TopEntry, error) {
	if EngineFrom(ctx) != "" || len(e) == 1 {
		l, err := e.pick(ctx)
		if err != nil {
			return nil, err
		}
		return l.Top(ctx, by, limit)
	}
	var all []forge.TopEntry
	for _, l := range e {
		t, err := l.Top(ctx, by, cmp.Or(limit, collector.DefaultTop))
		if err != nil {
			return nil, fmt.Errorf("engine %s: %w", l.Name, err)
		}
		all = append(all, t...)
	}
	slices.SortStableFunc(all, func(a, b forge.TopEntry) int {
		if by == "memory" {
			return cmp.Compare(b.Memory, a.Memory)
		}
		return cmp.Compare(b.CPU, a.CPU)
	})
	if limit = cmp.Or(limit, collector.DefaultTop); len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// System is the named engine's host.
func (e Engines) System(ctx context.Context) (forge.HostStats, error) {
	l, err := e.pick(ctx)
	if err != nil {
		return forge.HostStats{}, err
	}
	return l.System(ctx)
}

// Lock is a project's images as of a deploy, on the named engine.
func (e Engines) Lock(ctx context.Context, project string, deploy uint64) (dispatch.Lock, error) {
	l, err := e.pick(ctx)
	if err != nil {
		return dispatch.Lock{}, err
	}
	return l.Lock(ctx, project, deploy)
}

// Logs writes a service's logs from the named engine.
func (e Engines) Logs(ctx context.Context, project, service string, tail int, follow bool, w io.Writer) error {
	l, err := e.pick(ctx)
	if err != nil {
		return err
	}
	return l.Logs(ctx, project, service, tail, follow, w)
}

// Diff compares a project's configurations on the named engine.
func (e Engines) Diff(ctx context.Context, project, from, to string) (dispatch.Diff, error) {
	l, err := e.pick(ctx)
	if err != nil {
		return dispatch.Diff{}, err
	}
	return l.Diff(ctx, project, from, to)
}

// Forget deletes what the ledger keeps of a project of the named engine.
func (e Engines) Forget(ctx context.Context, project string, force bool) (ledger.Forgotten, error) {
	l, err := e.pick(ctx)
	if err != nil {
		return ledger.Forgotten{}, err
	}
	return l.Forget(ctx, project, force)
}

// Tokens lists the daemon's API tokens.
func (e Engines) Tokens(ctx context.Context) ([]forge.Token, error) { return e[0].Tokens(ctx) }

// CreateToken makes an API token.
func (e Engines) CreateToken(ctx context.Context, name string, role forge.Role) (NewToken, error) {
	return e[0].CreateToken(ctx, name, role)
}

// RevokeToken deletes an API token.
func (e Engines) RevokeToken(ctx context.Context, name string) error {
	return e[0].RevokeToken(ctx, name)
}

// Notifications lists the daemon's notification channels.
func (e Engines) Notifications(ctx context.Context) ([]NotifyChannel, error) {
	return e[0].Notifications(ctx)
}
