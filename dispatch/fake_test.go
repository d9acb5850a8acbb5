package dispatch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

// fakeEngine is an in-memory Docker engine and registry. It records what was
// asked of it (outcomes, not call orders): the Up calls, the references
// resolved, the projects loaded, and how many Up calls ran at once per
// project.
type fakeEngine struct {
	mu sync.Mutex
	// pullTook and recreateTook are what Up says its pull and recreate took.
	pullTook, recreateTook time.Duration

	projects  map[string]forge.Project                            // name -> compose model
	registry  map[string]string                                   // repo:tag or repo@digest -> digest
	running   map[string]map[string]forge.Running                 // project -> service -> container
	lie       map[string]map[string]string                        // project -> service -> digest reported after Up
	gates     map[string]chan struct{}                            // project -> Up waits until closed
	entered   chan string                                         // receives a project name when its Up starts
	nextID    int                                                 // container id counter
	errs      struct{ projects, running error }                   // engine-wide failures
	errsBy    struct{ load, up, resolve, build map[string]error } // failures by project or image ref
	images    map[string]string                                   // built or local tag -> image id
	built     []string                                            // tags built
	edited    map[string]map[string]bool                          // project -> services whose config changed on disk
	env       map[string]map[string]map[string]string             // project -> service -> environment
	restored  []string                                            // services a restore put back
	snapshots bool                                                // Up returns snapshots (as with a masker)

	health   map[string]map[string]forge.Health // project -> service -> health; default running long, no healthcheck
	healthOf map[string]forge.Health            // digest -> health of any container running it

	ups       []upCall
	resolved  []string
	loads     map[string]int
	active    map[string]int
	maxActive map[string]int
}

// upCall is one recorded Up.
type upCall struct {
	Project string
	Pins    map[string]string
	Whole   bool
}

func newFakeEngine() *fakeEngine {
	f := &fakeEngine{
		projects:  map[string]forge.Project{},
		registry:  map[string]string{},
		running:   map[string]map[string]forge.Running{},
		lie:       map[string]map[string]string{},
		gates:     map[string]chan struct{}{},
		entered:   make(chan string, 16),
		loads:     map[string]int{},
		active:    map[string]int{},
		maxActive: map[string]int{},
	}
	f.errsBy.load = map[string]error{}
	f.errsBy.up = map[string]error{}
	f.errsBy.resolve = map[string]error{}
	return f
}

// addProject registers a compose project; its ref's working dir is made up.
func (f *fakeEngine) addProject(name string, services ...forge.Service) forge.ProjectRef {
	f.mu.Lock()
	defer f.mu.Unlock()
	ref := forge.ProjectRef{Name: name, WorkingDir: "/srv/" + name, ConfigFiles: []string{"/srv/" + name + "/compose.yaml"}}
	f.projects[name] = forge.Project{Ref: ref, Services: services}
	return ref
}

// push makes repo:tag resolve to digest, and repo@digest confirmable.
func (f *fakeEngine) push(repo, tag, digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registry[repo+":"+tag] = digest
	f.registry[repo+"@"+digest] = digest
}

// run makes service of project run digest in a fresh container.
func (f *fakeEngine) run(project, service, digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setRunning(project, service, "", digest)
}

func (f *fakeEngine) setRunning(project, service, image, digest string) {
	if f.running[project] == nil {
		f.running[project] = map[string]forge.Running{}
	}
	f.nextID++
	f.running[project][service] = forge.Running{
		Service:     service,
		ContainerID: fmt.Sprintf("ctr-%d", f.nextID),
		Image:       image,
		Digest:      digest,
		State:       "running",
	}
}

// lieAbout makes the engine report digest for service after any Up, whatever
// was pinned.
func (f *fakeEngine) lieAbout(project, service, digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lie[project] == nil {
		f.lie[project] = map[string]string{}
	}
	f.lie[project][service] = digest
}

// block makes Up for project wait until the returned channel is closed.
func (f *fakeEngine) block(project string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	gate := make(chan struct{})
	f.gates[project] = gate
	return gate
}

func (f *fakeEngine) failLoad(project string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errsBy.load[project] = err
}

func (f *fakeEngine) failUp(project string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errsBy.up[project] = err
}

func (f *fakeEngine) failResolve(image string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errsBy.resolve[image] = err
}

func (f *fakeEngine) failProjects(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs.projects = err
}

func (f *fakeEngine) Projects(_ context.Context) ([]forge.ProjectRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.errs.projects != nil {
		return nil, f.errs.projects
	}
	var out []forge.ProjectRef
	for _, name := range slices.Sorted(maps.Keys(f.running)) {
		if p, ok := f.projects[name]; ok && len(f.running[name]) > 0 {
			out = append(out, p.Ref)
		}
	}
	return out, nil
}

func (f *fakeEngine) LoadProject(_ context.Context, ref forge.ProjectRef) (forge.Project, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads[ref.Name]++
	if err := f.errsBy.load[ref.Name]; err != nil {
		return forge.Project{}, err
	}
	p, ok := f.projects[ref.Name]
	if !ok {
		return forge.Project{}, fmt.Errorf("no compose file for %s", ref.Name)
	}
	p.Services = slices.Clone(p.Services)
	return p, nil
}

func (f *fakeEngine) Resolve(_ context.Context, image string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resolved = append(f.resolved, image)
	if err := f.errsBy.resolve[image]; err != nil {
		return "", err
	}
	d, ok := f.registry[image]
	if !ok {
		return "", fmt.Errorf("manifest unknown: %s", image)
	}
	return d, nil
}

func (f *fakeEngine) Running(_ context.Context, project string) (map[string]forge.Running, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.errs.running != nil {
		return nil, f.errs.running
	}
	return maps.Clone(f.running[project]), nil
}

// Health reports every service that runs as running for long, without a
// healthcheck, unless the test set its health.
func (f *fakeEngine) Health(_ context.Context, project string) (map[string]forge.Health, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.errs.running != nil {
		return nil, f.errs.running
	}
	out := map[string]forge.Health{}
	for svc, r := range f.running[project] {
		h := forge.Health{Running: r.State == "running", State: r.State, StartedAt: time.Now().Add(-time.Hour)}
		if set, ok := f.health[project][svc]; ok {
			h = set
		}
		if set, ok := f.healthOf[r.Digest]; ok {
			h = set
		}
		if set, ok := f.healthOf[r.ImageID]; ok && r.ImageID != "" {
			h = set
		}
		out[svc] = h
	}
	return out, nil
}

// setHealth makes Health report h for a service from now on.
func (f *fakeEngine) setHealth(project, service string, h forge.Health) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.health == nil {
		f.health = map[string]map[string]forge.Health{}
	}
	if f.health[project] == nil {
		f.health[project] = map[string]forge.Health{}
	}
	f.health[project][service] = h
}

// Up recreates, like compose, only the services whose image or
// configuration (see edit) differs from what their container runs. Each
// target's snapshot is its image and the environment setEnv gave it; a
// restore puts that environment back.
func (f *fakeEngine) Up(ctx context.Context, req forge.UpRequest) (forge.UpResult, error) {
	ref, pins, whole := req.Ref, req.Pins, req.Whole
	f.mu.Lock()
	for svc, raw := range req.Restore {
		var snap struct {
			Environment map[string]string `json:"environment"`
		}
		if err := json.Unmarshal(raw, &snap); err != nil {
			f.mu.Unlock()
			return forge.UpResult{}, err
		}
		f.setEnvLocked(ref.Name, svc, snap.Environment)
		f.restored = append(f.restored, svc)
	}
	f.ups = append(f.ups, upCall{Project: ref.Name, Pins: maps.Clone(pins), Whole: whole})
	if err := f.errsBy.up[ref.Name]; err != nil {
		f.mu.Unlock()
		return forge.UpResult{}, err
	}
	f.active[ref.Name]++
	f.maxActive[ref.Name] = max(f.maxActive[ref.Name], f.active[ref.Name])
	gate := f.gates[ref.Name]
	f.mu.Unlock()

	select {
	case f.entered <- ref.Name:
	default:
	}
	var err error
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	f.active[ref.Name]--
	if err != nil {
		return forge.UpResult{}, err
	}
	config := map[string]bool{}
	var snaps map[string][]byte
	for svc, pin := range pins {
		if f.snapshots {
			if snaps == nil {
				snaps = map[string][]byte{}
			}
			snaps[svc], _ = json.Marshal(map[string]any{"image": pin, "environment": f.env[ref.Name][svc]})
		}
	}
	for svc, pin := range pins {
		edited := f.edited[ref.Name][svc]
		config[svc] = edited
		delete(f.edited[ref.Name], svc)
		cur, has := f.running[ref.Name][svc]
		same := has && cur.State == "running" && !edited
		id, built := f.images[pin]
		if forge.IsImageID(pin) {
			id, built = pin, true
		}
		if built {
			if same && cur.ImageID == id {
				continue
			}
			f.setRunning(ref.Name, svc, pin, "")
			r := f.running[ref.Name][svc]
			r.ImageID = id
			f.running[ref.Name][svc] = r
			continue
		}
		digest := pin[strings.LastIndex(pin, "@")+1:]
		if d, ok := f.lie[ref.Name][svc]; ok {
			digest = d
		}
		if same && cur.Digest == digest {
			continue
		}
		f.setRunning(ref.Name, svc, pin, digest)
	}
	return forge.UpResult{ConfigChanged: config, Snapshots: snaps, Pull: f.pullTook, Recreate: f.recreateTook}, nil
}

// setEnv gives a service an environment: it shows in its snapshots, and a
// change of it recreates the service, as an edit does.
func (f *fakeEngine) setEnv(project, service string, env map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setEnvLocked(project, service, env)
}

func (f *fakeEngine) setEnvLocked(project, service string, env map[string]string) {
	if f.env == nil {
		f.env = map[string]map[string]map[string]string{}
	}
	if f.env[project] == nil {
		f.env[project] = map[string]map[string]string{}
	}
	if !maps.Equal(f.env[project][service], env) {
		if f.edited == nil {
			f.edited = map[string]map[string]bool{}
		}
		if f.edited[project] == nil {
			f.edited[project] = map[string]bool{}
		}
		f.edited[project][service] = true
	}
	f.env[project][service] = env
}

// RunningSnapshots is each running service's image and environment.
func (f *fakeEngine) RunningSnapshots(_ context.Context, project string, _ func(string, string) bool) (map[string][]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]byte{}
	for svc, r := range f.running[project] {
		out[svc], _ = json.Marshal(map[string]any{"image": r.Image, "environment": f.env[project][svc]})
	}
	return out, nil
}

// edit marks a service's configuration as changed on disk: the next Up of
// it recreates its container and reports the change.
func (f *fakeEngine) edit(project, service string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.edited == nil {
		f.edited = map[string]map[string]bool{}
	}
	if f.edited[project] == nil {
		f.edited[project] = map[string]bool{}
	}
	f.edited[project][service] = true
}

// addLocal gives the engine a local-only image (imported, never pushed)
// named tag, and returns its ID.
func (f *fakeEngine) addLocal(tag string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.images == nil {
		f.images = map[string]string{}
	}
	f.nextID++
	id := dg(fmt.Sprintf("local-%d", f.nextID))
	f.images[tag] = id
	return id
}

// LocalImage reports built and local images as having no registry copy,
// and every other image as not on the engine.
func (f *fakeEngine) LocalImage(ctx context.Context, ref string) (string, bool, error) {
	id, err := f.ImageID(ctx, ref)
	return id, false, err
}

// upCalls returns the recorded Up calls for project.
func (f *fakeEngine) upCalls(project string) []upCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []upCall
	for _, u := range f.ups {
		if u.Project == project {
			out = append(out, u)
		}
	}
	return out
}

func (f *fakeEngine) resolves() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.resolved)
}

func (f *fakeEngine) loadCount(project string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loads[project]
}

func (f *fakeEngine) maxConcurrentUps(project string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxActive[project]
}

// lockedBuffer is a log sink that workers may write while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a Dispatcher on a fake engine and a real ledger in a temp dir, with
// a debug-level JSON log captured in a buffer.
type env struct {
	eng *fakeEngine
	led *ledger.Ledger
	d   *Dispatcher
	log *lockedBuffer
}

func newEnv(t *testing.T, secrets ...string) *env {
	t.Helper()
	return newEnvConfig(t, Config{Secrets: secrets})
}

// newEnvConfig is newEnv with cfg's Secrets and StopGrace.
func newEnvConfig(t *testing.T, cfg Config) *env {
	t.Helper()
	led, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := led.Close(); err != nil {
			t.Error(err)
		}
	})
	eng := newFakeEngine()
	buf := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Engine, cfg.Ledger, cfg.Logger = eng, led, log
	d := New(cfg)
	return &env{eng: eng, led: led, d: d, log: buf}
}

// startRun runs the dispatcher's queue until the test ends.
func (e *env) startRun(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitFinal polls the ledger until deploy id reaches a final status.
func (e *env) waitFinal(t *testing.T, id uint64) forge.Deploy {
	t.Helper()
	var dep forge.Deploy
	eventually(t, func() bool {
		var err error
		dep, err = e.led.Get(id)
		return err == nil && dep.Status.Final()
	})
	return dep
}

// history returns the project's recorded deploys, newest first.
func (e *env) history(t *testing.T, project string) []forge.Deploy {
	t.Helper()
	h, err := e.led.History(project, 0)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// eventually fails the test unless cond becomes true within a few seconds.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// dg returns a well-formed sha256 digest derived from s.
func dg(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// svc returns a compose service with the given labels (key, value, …).
func svc(name, image string, labels ...string) forge.Service {
	s := forge.Service{Name: name, Image: image}
	if len(labels) > 0 {
		s.Labels = map[string]string{}
		for i := 0; i+1 < len(labels); i += 2 {
			s.Labels[labels[i]] = labels[i+1]
		}
	}
	return s
}

// enabled returns a forge-enabled compose service.
func enabled(name, image string) forge.Service {
	return svc(name, image, forge.LabelEnable, "true")
}

// Build gives each tag a new image ID and records the build; a build of a
// project in errsBy.up fails.
func (f *fakeEngine) Build(_ context.Context, ref forge.ProjectRef, tags map[string]string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.errsBy.build != nil && f.errsBy.build[ref.Name] != nil {
		return nil, f.errsBy.build[ref.Name]
	}
	if f.images == nil {
		f.images = map[string]string{}
	}
	ids := map[string]string{}
	for svc, tag := range tags {
		f.nextID++
		ids[svc] = dg(fmt.Sprintf("img%d", f.nextID))
		f.images[tag] = ids[svc]
		f.images[ids[svc]] = ids[svc] // kept by ID once the tag moves on, as the engine keeps it
		f.built = append(f.built, tag)
	}
	return ids, nil
}

// ImageID returns the ID Build (or addLocal) gave a tag, or an ID it gave,
// "" for anything else.
func (f *fakeEngine) ImageID(_ context.Context, ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if forge.IsImageID(ref) {
		for _, id := range f.images {
			if id == ref {
				return id, nil
			}
		}
		return "", nil
	}
	return f.images[ref], nil
}

// RemoveImage forgets a built image, unless a container runs it.
func (f *fakeEngine) RemoveImage(_ context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, svcs := range f.running {
		for _, r := range svcs {
			if r.Image == ref {
				return fmt.Errorf("conflict: image %s is being used by a running container", ref)
			}
		}
	}
	delete(f.images, ref)
	return nil
}

// pruneImage forgets a built image, as docker image prune does.
func (f *fakeEngine) pruneImage(tag string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.images, tag)
}

// builds returns the tags built so far, and forgets them.
func (f *fakeEngine) builds() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.built
	f.built = nil
	slices.Sort(out)
	return out
}
