package poll

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/robfig/cron/v3"

	"github.com/docker-forge/docker-forge"
)

type fakeWorld struct {
	mu       sync.Mutex
	projects map[string]forge.Project
	running  map[string]map[string]forge.Running
	tags     map[string]string // image -> digest
	headErr  error
	heads    int
	events   []forge.Event
}

func (f *fakeWorld) Projects(context.Context) ([]forge.ProjectRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []forge.ProjectRef
	for _, p := range f.projects {
		out = append(out, p.Ref)
	}
	return out, nil
}

func (f *fakeWorld) LoadProject(_ context.Context, ref forge.ProjectRef) (forge.Project, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.projects[ref.Name], nil
}

func (f *fakeWorld) Running(_ context.Context, project string) (map[string]forge.Running, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[project], nil
}

func (f *fakeWorld) Head(_ context.Context, image string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heads++
	if f.headErr != nil {
		return "", f.headErr
	}
	return f.tags[image], nil
}

func (f *fakeWorld) Submit(_ context.Context, events []forge.Event) ([]forge.QueuedDeploy, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, events...)
	return []forge.QueuedDeploy{{ID: 1}}, "", nil
}

func digest(c string) string { return "sha256:" + strings.Repeat(c, 64) }

func world() *fakeWorld {
	svc := func(name, image string, labels map[string]string) forge.Service {
		return forge.Service{Name: name, Image: image, Labels: labels}
	}
	return &fakeWorld{
		projects: map[string]forge.Project{"shop": {Ref: forge.ProjectRef{Name: "shop"}, Services: []forge.Service{
			svc("web", "127.0.0.1:5000/shop/web:live", map[string]string{forge.LabelEnable: "true", forge.LabelPoll: "@every 5m"}),
			svc("api", "127.0.0.1:5000/shop/api:live", map[string]string{forge.LabelEnable: "true"}),
			svc("off", "127.0.0.1:5000/shop/off:live", map[string]string{forge.LabelPoll: "@every 5m"}),
			svc("bad", "127.0.0.1:5000/shop/bad:live", map[string]string{forge.LabelEnable: "true", forge.LabelPoll: "every now and then"}),
		}}},
		running: map[string]map[string]forge.Running{"shop": {"web": {Service: "web", Digest: digest("a")}}},
		tags:    map[string]string{"127.0.0.1:5000/shop/web:live": digest("a")},
	}
}

func TestSyncSchedulesOnlyLabelledEnabledServices(t *testing.T) {
	w := world()
	p := New(Config{Projects: w, Registry: w, Dispatcher: w})
	c := cron.New()
	p.Sync(t.Context(), c)
	if got := p.Polled(); !slices.Equal(got, []string{"shop/web"}) || len(c.Entries()) != 1 {
		t.Fatalf("polled %v with %d entries, want only shop/web (enabled, with a valid schedule)", got, len(c.Entries()))
	}
	// The label goes away: so does the entry.
	w.mu.Lock()
	proj := w.projects["shop"]
	proj.Services[0].Labels = map[string]string{forge.LabelEnable: "true"}
	w.projects["shop"] = proj
	w.mu.Unlock()
	p.Sync(t.Context(), c)
	if len(p.Polled()) != 0 || len(c.Entries()) != 0 {
		t.Fatalf("after the label was removed: polled %v, %d entries", p.Polled(), len(c.Entries()))
	}
}

func TestCheckSubmitsAMovedTagOnce(t *testing.T) {
	w := world()
	p := New(Config{Projects: w, Registry: w, Dispatcher: w})
	web := target{project: "shop", service: "web", image: "127.0.0.1:5000/shop/web:live"}

	p.Check(t.Context(), web)
	if len(w.events) != 0 {
		t.Fatalf("the tag still points at what runs, yet %v was submitted", w.events)
	}
	w.tags[web.image] = digest("b") // a push whose notification was lost
	p.Check(t.Context(), web)
	want := forge.Event{Kind: forge.KindImage, Provider: forge.ProviderPoll, Repository: "127.0.0.1:5000/shop/web", Tag: "live", Digest: digest("b"), Delivery: "poll:" + digest("b")}
	if len(w.events) != 1 || w.events[0] != want {
		t.Fatalf("submitted %+v, want %+v", w.events, want)
	}
	// The deploy has not landed yet (or keeps failing): no resubmission.
	p.Check(t.Context(), web)
	if len(w.events) != 1 {
		t.Fatalf("the same digest was submitted again: %+v", w.events)
	}
	w.headErr = errors.New("registry down")
	w.tags[web.image] = digest("c")
	p.Check(t.Context(), web)
	if len(w.events) != 1 {
		t.Fatalf("a failed registry check submitted %+v", w.events)
	}
	if w.heads != 4 {
		t.Fatalf("%d registry checks, want one per Check", w.heads)
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	w := world()
	p := New(Config{Projects: w, Registry: w, Dispatcher: w, Refresh: "@every 1h"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := New(Config{Projects: w, Registry: w, Dispatcher: w, Refresh: "whenever"}).Run(t.Context()); err == nil {
		t.Fatal("a bad refresh schedule was accepted")
	}
}
