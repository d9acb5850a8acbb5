package api_test

import (
	"context"
	"io"
	"sync"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/ledger"
)

// fakeBackend answers with the values and errors a test configures, and
// records what reached it.
type fakeBackend struct {
	mu sync.Mutex

	// answers
	deploy      forge.Deploy
	deployErr   error
	rollback    forge.Deploy
	rollbackErr error
	history     []forge.Deploy
	historyErr  error
	projects    []api.ProjectStatus
	projectsErr error
	stats       []forge.StatSeries
	statsErr    error
	top         []forge.TopEntry
	topErr      error
	system      forge.HostStats
	systemErr   error
	lock        dispatch.Lock
	lockErr     error
	logs        string
	tokenList   []forge.Token
	channels    []api.NotifyChannel
	newToken    api.NewToken
	tokenErr    error
	diffErr     error
	// gate, when set, holds Deploy and Rollback until it is closed; entered
	// then receives the context each started with.
	gate    chan struct{}
	entered chan context.Context

	// what reached the backend
	deploys   []dispatch.Request
	rollbacks []dispatch.RollbackRequest
	histories []historyCall
	listed    int
	statsQs   []api.StatsQuery
	locks     []lockCall
	logCalls  int
	systems   int
	tokenOps  []string
	topCalls  []topCall
	// ctxErrs is the state of each deploy's and rollback's context when it
	// finished.
	ctxErrs []error
}

type topCall struct {
	By    string
	Limit int
}

type lockCall struct {
	Project string
	Deploy  uint64
}

func (f *fakeBackend) Lock(_ context.Context, project string, deploy uint64) (dispatch.Lock, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.locks = append(f.locks, lockCall{project, deploy})
	return f.lock, f.lockErr
}

type historyCall struct {
	Project string
	Limit   int
}

var _ api.Backend = (*fakeBackend)(nil)

func (f *fakeBackend) Deploy(ctx context.Context, req dispatch.Request) (forge.Deploy, error) {
	f.wait(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deploys = append(f.deploys, req)
	f.ctxErrs = append(f.ctxErrs, ctx.Err())
	return f.deploy, f.deployErr
}

func (f *fakeBackend) Rollback(ctx context.Context, req dispatch.RollbackRequest) (forge.Deploy, error) {
	f.wait(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rollbacks = append(f.rollbacks, req)
	f.ctxErrs = append(f.ctxErrs, ctx.Err())
	return f.rollback, f.rollbackErr
}

// wait holds a deploy at the gate, like one that takes its time.
func (f *fakeBackend) wait(ctx context.Context) {
	if f.gate == nil {
		return
	}
	f.entered <- ctx
	<-f.gate
}

func (f *fakeBackend) History(_ context.Context, project string, limit int) ([]forge.Deploy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.histories = append(f.histories, historyCall{Project: project, Limit: limit})
	return f.history, f.historyErr
}

func (f *fakeBackend) Projects(context.Context) ([]api.ProjectStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed++
	return f.projects, f.projectsErr
}

// calls is how many requests of any kind reached the backend.
func (f *fakeBackend) Diff(_ context.Context, project, from, to string) (dispatch.Diff, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenOps = append(f.tokenOps, "diff "+project+" "+from+" "+to)
	return dispatch.Diff{Project: project, From: from, To: to}, f.diffErr
}

func (f *fakeBackend) Forget(_ context.Context, project string, force bool) (ledger.Forgotten, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenOps = append(f.tokenOps, "forget "+project)
	return ledger.Forgotten{Deploys: 1}, nil
}

func (f *fakeBackend) Project(_ context.Context, name string) (api.ProjectStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed++
	for _, p := range f.projects {
		if p.Name == name {
			return p, nil
		}
	}
	if f.projectsErr != nil {
		return api.ProjectStatus{}, f.projectsErr
	}
	return api.ProjectStatus{Name: name}, nil
}

func (f *fakeBackend) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.deploys) + len(f.rollbacks) + len(f.histories) + f.listed + len(f.locks) + f.logCalls + len(f.tokenOps) + len(f.statsQs) + len(f.topCalls) + f.systems
}

func (f *fakeBackend) Logs(_ context.Context, project, service string, tail int, follow bool, w io.Writer) error {
	f.mu.Lock()
	f.logCalls++
	f.mu.Unlock()
	_, err := io.WriteString(w, f.logs)
	return err
}

func (f *fakeBackend) Tokens(context.Context) ([]forge.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenOps = append(f.tokenOps, "list")
	return f.tokenList, f.tokenErr
}

func (f *fakeBackend) CreateToken(_ context.Context, name string, role forge.Role) (api.NewToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenOps = append(f.tokenOps, "create "+name+" "+string(role))
	return f.newToken, f.tokenErr
}

func (f *fakeBackend) RevokeToken(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenOps = append(f.tokenOps, "revoke "+name)
	return f.tokenErr
}

func (f *fakeBackend) Notifications(context.Context) ([]api.NotifyChannel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.channels, nil
}

func (f *fakeBackend) Stats(_ context.Context, q api.StatsQuery) ([]forge.StatSeries, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statsQs = append(f.statsQs, q)
	return f.stats, f.statsErr
}

func (f *fakeBackend) Top(_ context.Context, by string, limit int) ([]forge.TopEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topCalls = append(f.topCalls, topCall{By: by, Limit: limit})
	return f.top, f.topErr
}

func (f *fakeBackend) System(context.Context) (forge.HostStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.systems++
	return f.system, f.systemErr
}
