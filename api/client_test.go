package api_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/auth"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/ledger"
)

// socketDir returns a directory short enough for a unix socket path (about
// 108 bytes on Linux), removed when the test ends.
func socketDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if len(dir) < 80 {
		return dir
	}
	dir, err := os.MkdirTemp("", "forge")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// startDaemon serves the API over a real unix socket, as `serve` does, and
// returns the socket's path.
func startDaemon(t *testing.T, b api.Backend) string {
	t.Helper()
	sock := filepath.Join(socketDir(t), "forge.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: newRouter(b, nil), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return sock
}

func dial(t *testing.T, b api.Backend) *api.Client {
	t.Helper()
	c, err := api.Dial(t.Context(), startDaemon(t, b))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return c
}

func TestClientDeploy(t *testing.T) {
	tests := []struct {
		name string
		req  dispatch.Request
	}{
		{
			name: "running project by name",
			req:  dispatch.Request{Ref: forge.ProjectRef{Name: "shop"}, Services: []string{"web"}, User: "alice"},
		},
		{
			name: "compose file, named",
			req: dispatch.Request{
				Ref: forge.ProjectRef{
					Name: "shop", WorkingDir: "/srv/shop", ConfigFiles: []string{"/srv/shop/compose.yaml", "/srv/shop/prod.yaml"},
					EnvFiles: []string{"/srv/shop/.env"}, Profiles: []string{"prod", "debug"},
				},
				Services: []string{"web", "worker"}, User: "alice",
			},
		},
		{
			name: "compose file, named by the model",
			req: dispatch.Request{
				Ref: forge.ProjectRef{WorkingDir: "/srv/shop", ConfigFiles: []string{"/srv/shop/compose.yaml"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{deploy: sampleDeploy(5, "shop", forge.StatusSucceeded)}
			d, err := dial(t, b).Deploy(t.Context(), tt.req)
			if err != nil {
				t.Fatalf("Deploy: %v", err)
			}
			if !reflect.DeepEqual(d, b.deploy) {
				t.Errorf("deploy\n got %+v\nwant %+v", d, b.deploy)
			}
			if want := []dispatch.Request{tt.req}; !reflect.DeepEqual(b.deploys, want) {
				t.Errorf("daemon got\n %+v\nwant\n %+v", b.deploys, want)
			}
		})
	}
}

func TestClientRollback(t *testing.T) {
	req := dispatch.RollbackRequest{Project: "shop", To: 12, Services: []string{"web"}, User: "alice"}
	b := &fakeBackend{rollback: sampleDeploy(13, "shop", forge.StatusSucceeded)}
	b.rollback.Reason, b.rollback.RollbackOf = forge.ReasonRollback, 12
	d, err := dial(t, b).Rollback(t.Context(), req)
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if !reflect.DeepEqual(d, b.rollback) {
		t.Errorf("deploy\n got %+v\nwant %+v", d, b.rollback)
	}
	if want := []dispatch.RollbackRequest{req}; !reflect.DeepEqual(b.rollbacks, want) {
		t.Errorf("daemon got %+v, want %+v", b.rollbacks, want)
	}
}

// TestClientFailure checks that a deploy that ran and failed comes back the
// way the in-process backend returns it: the recorded deploy and a
// *dispatch.Failure carrying it.
func TestClientFailure(t *testing.T) {
	for _, status := range []forge.Status{forge.StatusFailed, forge.StatusInterrupted} {
		failed := sampleDeploy(6, "shop", status)
		b := &fakeBackend{
			deploy: failed, deployErr: &dispatch.Failure{Deploy: failed},
			rollback: failed, rollbackErr: &dispatch.Failure{Deploy: failed},
		}
		c := dial(t, b)
		ops := map[string]func() (forge.Deploy, error){
			"deploy": func() (forge.Deploy, error) {
				return c.Deploy(t.Context(), dispatch.Request{Ref: forge.ProjectRef{Name: "shop"}})
			},
			"rollback": func() (forge.Deploy, error) {
				return c.Rollback(t.Context(), dispatch.RollbackRequest{Project: "shop"})
			},
		}
		for name, op := range ops {
			t.Run(name+"/"+string(status), func(t *testing.T) {
				d, err := op()
				f, ok := errors.AsType[*dispatch.Failure](err)
				if !ok {
					t.Fatalf("error %v (%T), want a *dispatch.Failure", err, err)
				}
				if !reflect.DeepEqual(f.Deploy, failed) || !reflect.DeepEqual(d, failed) {
					t.Errorf("failure carries %+v and returned %+v, want %+v", f.Deploy, d, failed)
				}
				if want := (&dispatch.Failure{Deploy: failed}).Error(); err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
				if api.IsNotFound(err) {
					t.Errorf("IsNotFound(%v) = true", err)
				}
			})
		}
	}
}

func TestClientHistory(t *testing.T) {
	hist := []forge.Deploy{sampleDeploy(2, "shop", forge.StatusFailed), sampleDeploy(1, "shop", forge.StatusSucceeded)}
	b := &fakeBackend{history: hist}
	h, err := dial(t, b).History(t.Context(), "shop", 2)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	if !reflect.DeepEqual(h, hist) {
		t.Errorf("history\n got %+v\nwant %+v", h, hist)
	}
	if want := []historyCall{{"shop", 2}}; !reflect.DeepEqual(b.histories, want) {
		t.Errorf("daemon got %+v, want %+v", b.histories, want)
	}
}

func TestClientProjects(t *testing.T) {
	last := sampleDeploy(7, "shop", forge.StatusSucceeded)
	projects := []api.ProjectStatus{
		{Name: "broken", Services: []api.ServiceStatus{}, Error: "compose project could not be loaded"},
		{Name: "shop", WorkingDir: "/srv/shop", LastDeploy: &last, Services: []api.ServiceStatus{
			{Name: "web", Image: "ghcr.io/acme/web:1", Digest: "sha256:" + strings.Repeat("b", 64), State: "running"},
			{Name: "worker", Image: "ghcr.io/acme/worker:1"},
		}},
	}
	b := &fakeBackend{projects: projects}
	ps, err := dial(t, b).Projects(t.Context())
	if err != nil {
		t.Fatalf("Projects: %v", err)
	}
	if !reflect.DeepEqual(ps, projects) {
		t.Errorf("projects\n got %+v\nwant %+v", ps, projects)
	}
}

// TestClientErrors checks that errors the daemon answers with reach the
// caller with their status and text.
func TestClientErrors(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		wantStatus   int
		wantNotFound bool
	}{
		{name: "unknown project", err: fmt.Errorf("find project shop: %w", dispatch.ErrUnknownProject), wantStatus: 404, wantNotFound: true},
		{name: "no such deploy", err: fmt.Errorf("rollback shop: get deploy 99: %w", ledger.ErrNotFound), wantStatus: 404, wantNotFound: true},
		{name: "nothing to roll back", err: fmt.Errorf("rollback shop: %w", dispatch.ErrNothingToRollBack), wantStatus: 409},
		{name: "bad input", err: errors.New(`deploy shop: no service "db" in the compose project`), wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{deployErr: tt.err, rollbackErr: tt.err, historyErr: tt.err, projectsErr: tt.err}
			c := dial(t, b)
			errs := map[string]error{}
			_, errs["deploy"] = c.Deploy(t.Context(), dispatch.Request{Ref: forge.ProjectRef{Name: "shop"}})
			_, errs["rollback"] = c.Rollback(t.Context(), dispatch.RollbackRequest{Project: "shop", To: 99})
			_, errs["history"] = c.History(t.Context(), "shop", 0)
			_, errs["projects"] = c.Projects(t.Context())
			for op, err := range errs {
				re, ok := errors.AsType[*api.RemoteError](err)
				if !ok {
					t.Errorf("%s: error %v (%T), want a *api.RemoteError", op, err, err)
					continue
				}
				if re.Status != tt.wantStatus || re.Message != tt.err.Error() {
					t.Errorf("%s: remote error %d %q, want %d %q", op, re.Status, re.Message, tt.wantStatus, tt.err.Error())
				}
				if got := api.IsNotFound(err); got != tt.wantNotFound {
					t.Errorf("%s: IsNotFound = %v, want %v", op, got, tt.wantNotFound)
				}
			}
		})
	}
}

// TestClientBusy: a deploy or rollback refused with --no-wait reaches the
// CLI as the *dispatch.BusyError the dispatcher returned, naming the deploy
// in the way, so the CLI can say what it waits for.
func TestClientBusy(t *testing.T) {
	busy := &dispatch.BusyError{Project: "shop", ID: 7, Status: forge.StatusRunning}
	b := &fakeBackend{deployErr: fmt.Errorf("deploy shop: %w", busy), rollbackErr: fmt.Errorf("rollback shop: %w", busy)}
	c := dial(t, b)
	_, derr := c.Deploy(t.Context(), dispatch.Request{Ref: forge.ProjectRef{Name: "shop"}, NoWait: true})
	_, rerr := c.Rollback(t.Context(), dispatch.RollbackRequest{Project: "shop", NoWait: true})
	for op, err := range map[string]error{"deploy": derr, "rollback": rerr} {
		got, ok := errors.AsType[*dispatch.BusyError](err)
		if !ok || *got != *busy {
			t.Errorf("%s: error %v (%T), want %+v", op, err, err, busy)
		}
	}
	if len(b.deploys) != 1 || !b.deploys[0].NoWait || len(b.rollbacks) != 1 || !b.rollbacks[0].NoWait {
		t.Errorf("no_wait did not reach the backend: deploys %+v, rollbacks %+v", b.deploys, b.rollbacks)
	}
}

// TestClientLock: the lock route carries the deploy asked for, and its
// errors come back with their status.
func TestClientLock(t *testing.T) {
	want := dispatch.Lock{Project: "shop", Deploy: sampleDeploy(4, "shop", forge.StatusSucceeded), ConfigFiles: []string{"/srv/shop/compose.yaml"},
		Services: []dispatch.LockedService{{Service: "web", Image: "127.0.0.1:5000/shop/web@sha256:aa", From: 4}}}
	b := &fakeBackend{lock: want}
	c := dial(t, b)
	got, err := c.Lock(t.Context(), "shop", 4)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Lock = %+v, %v; want %+v", got, err, want)
	}
	if _, err := c.Lock(t.Context(), "shop", 0); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.locks, []lockCall{{"shop", 4}, {"shop", 0}}) {
		t.Errorf("backend saw %+v", b.locks)
	}
	b.lockErr = fmt.Errorf("lock shop: no deploy 9 of shop is recorded: %w", ledger.ErrNotFound)
	if _, err := c.Lock(t.Context(), "shop", 9); !api.IsNotFound(err) {
		t.Errorf("lock of an unknown deploy: %v, want a not-found error", err)
	}
}

func TestIsNotFound(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil},
		{name: "remote 404", err: &api.RemoteError{Status: 404, Message: "find project shop: unknown"}, want: true},
		{name: "wrapped remote 404", err: fmt.Errorf("history: %w", &api.RemoteError{Status: 404}), want: true},
		{name: "remote 400", err: &api.RemoteError{Status: 400}},
		{name: "remote 409", err: &api.RemoteError{Status: 409}},
		{name: "local ledger not found", err: fmt.Errorf("get deploy 3: %w", ledger.ErrNotFound), want: true},
		{name: "local unknown project", err: fmt.Errorf("find project shop: %w", dispatch.ErrUnknownProject), want: true},
		{name: "local nothing to roll back", err: dispatch.ErrNothingToRollBack},
		{name: "other", err: errors.New("not found")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := api.IsNotFound(tt.err); got != tt.want {
				t.Errorf("IsNotFound(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestDial checks that Dial fails fast, so the CLI falls back to working
// in-process instead of hanging, when no daemon answers on the socket.
func TestDial(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, sock string)
		// within bounds how long Dial may take to fail.
		within time.Duration
	}{
		{name: "no socket file", setup: func(*testing.T, string) {}, within: time.Second},
		{
			name: "stale socket file",
			setup: func(t *testing.T, sock string) {
				ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
				if err != nil {
					t.Fatal(err)
				}
				ln.SetUnlinkOnClose(false)
				_ = ln.Close()
				if _, err := os.Stat(sock); err != nil {
					t.Fatalf("stale socket file: %v", err)
				}
			},
			within: time.Second,
		},
		{
			name: "not a socket",
			setup: func(t *testing.T, sock string) {
				if err := os.WriteFile(sock, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			within: time.Second,
		},
		{
			name: "unhealthy daemon",
			setup: func(t *testing.T, sock string) {
				serveUnix(t, sock, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(http.StatusServiceUnavailable)
				}))
			},
			within: time.Second,
		},
		{
			name: "something else answers",
			setup: func(t *testing.T, sock string) {
				serveUnix(t, sock, http.NotFoundHandler())
			},
			within: time.Second,
		},
		{
			name: "wedged daemon",
			setup: func(t *testing.T, sock string) {
				ln, err := net.Listen("unix", sock)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = ln.Close() })
				go func() { // accept, and never answer
					var conns []net.Conn
					defer func() {
						for _, c := range conns {
							_ = c.Close()
						}
					}()
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						conns = append(conns, c)
					}
				}()
			},
			within: 3 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := filepath.Join(socketDir(t), "forge.sock")
			tt.setup(t, sock)
			start := time.Now()
			c, err := api.Dial(t.Context(), sock)
			took := time.Since(start)
			if err == nil {
				t.Fatalf("Dial returned a client %v, want an error", c)
			}
			if !strings.Contains(err.Error(), sock) {
				t.Errorf("error %q does not name the socket", err)
			}
			if took > tt.within {
				t.Errorf("Dial took %v to fail, want under %v", took, tt.within)
			}
		})
	}
}

func serveUnix(t *testing.T, sock string, h http.Handler) {
	t.Helper()
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// TestDialHealthz checks that Dial asks /healthz, the route the daemon's
// socket router serves beside the API.
func TestDialHealthz(t *testing.T) {
	sock := filepath.Join(socketDir(t), "forge.sock")
	var (
		mu    sync.Mutex
		asked []string
	)
	r := mux.NewRouter()
	r.HandleFunc("/healthz", func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, req.Method+" "+req.URL.Path)
		w.WriteHeader(http.StatusOK)
	})
	api.Register(r, &fakeBackend{}, auth.Trusted{}, slog.New(slog.DiscardHandler))
	serveUnix(t, sock, r)
	if _, err := api.Dial(t.Context(), sock); err != nil {
		t.Fatalf("Dial: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"GET /healthz"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("daemon was asked %v, want %v", asked, want)
	}
}
