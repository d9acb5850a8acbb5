package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/engine"
	"github.com/docker-forge/docker-forge/ledger"
)

// hostMem is the memory of the host the stats in testdata were recorded
// on: their "limit" of an unlimited container.
const hostMem = 25276514304

// fakeEngine lists the targets a test sets and answers each stats call
// with reply, recording the calls.
type fakeEngine struct {
	mu      sync.Mutex
	targets []forge.ContainerSample
	listErr error
	reply   func(call int, t forge.ContainerSample, previous bool) (forge.ContainerSample, error)
	calls   []statsCall
	// lists counts StatsTargets calls; inList and maxInList how many ran at once.
	lists, inList, maxInList int
	// during runs inside StatsTargets, for tests of overlapping runs.
	during func(list int)
}

type statsCall struct {
	ID       string
	Previous bool
}

func (f *fakeEngine) StatsTargets(context.Context) ([]forge.ContainerSample, error) {
	f.mu.Lock()
	f.lists++
	n := f.lists
	f.inList++
	f.maxInList = max(f.maxInList, f.inList)
	during := f.during
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inList--
		f.mu.Unlock()
	}()
	if during != nil {
		during(n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]forge.ContainerSample(nil), f.targets...), f.listErr
}

func (f *fakeEngine) ContainerStats(_ context.Context, t forge.ContainerSample, previous bool) (forge.ContainerSample, error) {
	f.mu.Lock()
	f.calls = append(f.calls, statsCall{ID: t.ID, Previous: previous})
	n := len(f.calls)
	f.mu.Unlock()
	s, err := f.reply(n, t, previous)
	if err != nil {
		return forge.ContainerSample{}, err
	}
	s.ID, s.Name, s.Project, s.Service = t.ID, t.Name, t.Project, t.Service
	return s, nil
}

func (f *fakeEngine) takeCalls() []statsCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// recorded decodes a stats answer of the real engine from testdata, the
// way the engine does.
func recorded(t testing.TB, name string) (forge.ContainerSample, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "stats", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := engine.DecodeStats(f, hostMem)
	if errors.Is(err, engine.ErrNotRunning) {
		return s, fmt.Errorf("stats of %s: %w", name, err)
	}
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return s, nil
}

func openLedger(t testing.TB) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(filepath.Join(t.TempDir(), "forge.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}
