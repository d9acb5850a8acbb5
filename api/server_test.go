package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/auth"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/ledger"
)

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// sampleDeploy is a recorded deploy with every field the JSON carries.
func sampleDeploy(id uint64, project string, status forge.Status) forge.Deploy {
	d := forge.Deploy{
		ID: id, Project: project, Reason: forge.ReasonManual, Status: status,
		Trigger: forge.Trigger{User: "alice"},
		Services: []forge.ServiceDeploy{{
			Service: "web", Image: "ghcr.io/acme/web:1", Pinned: "ghcr.io/acme/web@sha256:" + strings.Repeat("b", 64),
			Digest: "sha256:" + strings.Repeat("b", 64), Previous: "sha256:" + strings.Repeat("a", 64), Changed: true,
		}},
		Queued: t0, Started: t0.Add(time.Second), Finished: t0.Add(3 * time.Second),
	}
	if status != forge.StatusSucceeded {
		d.Error = "service web did not become healthy"
	}
	return d
}

// newRouter registers the API on a fresh router, beside a /healthz route as
// the daemon has.
// newRouter is the API as the unix socket serves it (every caller an
// admin), or, with an authorizer, as the TCP listener does.
func newRouter(b api.Backend, az api.Authorizer, opts ...api.Option) *mux.Router {
	if az == nil {
		az = auth.Trusted{}
	}
	r := mux.NewRouter()
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	api.Register(r, b, az, slog.New(slog.DiscardHandler), opts...)
	return r
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// errorText decodes a {"error": "…"} body.
func (a answer) errorText(t *testing.T) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(a.body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", a.body, err)
	}
	if e.Error == "" {
		t.Fatalf("error body %q has no error text", a.body)
	}
	return e.Error
}

func do(t *testing.T, h http.Handler, method, target, body string, header http.Header) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, target, rd)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return answer{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func TestProjects(t *testing.T) {
	last := sampleDeploy(7, "shop", forge.StatusSucceeded)
	tests := []struct {
		name       string
		projects   []api.ProjectStatus
		err        error
		wantStatus int
		want       []api.ProjectStatus
	}{
		{
			name: "listed",
			projects: []api.ProjectStatus{
				{Name: "shop", WorkingDir: "/srv/shop", LastDeploy: &last, Services: []api.ServiceStatus{
					{Name: "web", Image: "ghcr.io/acme/web:1", Digest: "sha256:" + strings.Repeat("b", 64), State: "running"},
				}},
				{Name: "broken", Services: []api.ServiceStatus{}, Error: "compose project could not be loaded"},
			},
			wantStatus: http.StatusOK,
		},
		{name: "none", projects: []api.ProjectStatus{}, wantStatus: http.StatusOK},
		{name: "engine error", err: fmt.Errorf("list projects: %w", forge.ErrEngineUnavailable), wantStatus: http.StatusServiceUnavailable},
		{name: "ledger error", err: errors.New("list projects: decode project: bad"), wantStatus: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{projects: tt.projects, projectsErr: tt.err}
			a := do(t, newRouter(b, nil), http.MethodGet, "/api/projects", "", nil)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", a.status, tt.wantStatus, a.body)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if tt.err != nil {
				if got := a.errorText(t); got != tt.err.Error() {
					t.Errorf("error %q, want %q", got, tt.err.Error())
				}
				return
			}
			var got []api.ProjectStatus
			if err := json.Unmarshal(a.body, &got); err != nil {
				t.Fatalf("decode %s: %v", a.body, err)
			}
			if !reflect.DeepEqual(got, tt.projects) {
				t.Errorf("projects\n got %+v\nwant %+v", got, tt.projects)
			}
		})
	}
}

func TestHistory(t *testing.T) {
	hist := []forge.Deploy{sampleDeploy(2, "shop", forge.StatusFailed), sampleDeploy(1, "shop", forge.StatusSucceeded)}
	tests := []struct {
		name       string
		target     string
		err        error
		wantStatus int
		wantCall   *historyCall
	}{
		{name: "no limit", target: "/api/projects/shop/history", wantStatus: 200, wantCall: &historyCall{"shop", 0}},
		{name: "empty limit", target: "/api/projects/shop/history?limit=", wantStatus: 200, wantCall: &historyCall{"shop", 0}},
		{name: "limit", target: "/api/projects/shop/history?limit=5", wantStatus: 200, wantCall: &historyCall{"shop", 5}},
		{name: "limit zero", target: "/api/projects/shop/history?limit=0", wantStatus: 200, wantCall: &historyCall{"shop", 0}},
		{name: "negative limit", target: "/api/projects/shop/history?limit=-1", wantStatus: 400},
		{name: "word limit", target: "/api/projects/shop/history?limit=ten", wantStatus: 400},
		{name: "fraction limit", target: "/api/projects/shop/history?limit=1.5", wantStatus: 400},
		{name: "escaped name", target: "/api/projects/my_shop-2/history", wantStatus: 200, wantCall: &historyCall{"my_shop-2", 0}},
		{
			name: "unknown project", target: "/api/projects/nope/history", wantStatus: 404, wantCall: &historyCall{"nope", 0},
			err: fmt.Errorf("find project nope: %w", dispatch.ErrUnknownProject),
		},
		{
			name: "ledger not found", target: "/api/projects/shop/history", wantStatus: 404, wantCall: &historyCall{"shop", 0},
			err: fmt.Errorf("history of shop: %w", ledger.ErrNotFound),
		},
		{
			name: "other error", target: "/api/projects/shop/history", wantStatus: 400, wantCall: &historyCall{"shop", 0},
			err: errors.New("history of shop: decode deploy: schema 9 is newer"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{history: hist, historyErr: tt.err}
			a := do(t, newRouter(b, nil), http.MethodGet, tt.target, "", nil)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", a.status, tt.wantStatus, a.body)
			}
			if tt.wantCall == nil {
				if b.calls() != 0 {
					t.Errorf("a rejected request reached the backend: %+v", b.histories)
				}
				if msg := a.errorText(t); !strings.Contains(msg, "limit") {
					t.Errorf("error %q does not name the limit", msg)
				}
				return
			}
			if want := []historyCall{*tt.wantCall}; !reflect.DeepEqual(b.histories, want) {
				t.Errorf("backend got %+v, want %+v", b.histories, want)
			}
			if tt.err != nil {
				if got := a.errorText(t); got != tt.err.Error() {
					t.Errorf("error %q, want %q", got, tt.err.Error())
				}
				return
			}
			var got []forge.Deploy
			if err := json.Unmarshal(a.body, &got); err != nil {
				t.Fatalf("decode %s: %v", a.body, err)
			}
			if !reflect.DeepEqual(got, hist) {
				t.Errorf("history\n got %+v\nwant %+v", got, hist)
			}
		})
	}
}

func TestDeployRequest(t *testing.T) {
	tests := []struct {
		name       string
		target     string
		body       string
		wantStatus int
		want       *dispatch.Request
	}{
		{
			name:   "every field",
			target: "/api/projects/shop/deploy",
			body: `{"services":["web","worker"],"config_files":["/srv/shop/compose.yaml","/srv/shop/prod.yaml"],
				"working_dir":"/srv/shop","env_files":["/srv/shop/.env"],"profiles":["prod"],"user":"alice"}`,
			wantStatus: 200,
			want: &dispatch.Request{
				Ref: forge.ProjectRef{
					Name: "shop", WorkingDir: "/srv/shop", ConfigFiles: []string{"/srv/shop/compose.yaml", "/srv/shop/prod.yaml"},
					EnvFiles: []string{"/srv/shop/.env"}, Profiles: []string{"prod"},
				},
				Services: []string{"web", "worker"}, User: "alice",
			},
		},
		{
			name:       "dash leaves the name to the compose model",
			target:     "/api/projects/-/deploy",
			body:       `{"config_files":["/srv/shop/compose.yaml"],"working_dir":"/srv/shop"}`,
			wantStatus: 200,
			want:       &dispatch.Request{Ref: forge.ProjectRef{WorkingDir: "/srv/shop", ConfigFiles: []string{"/srv/shop/compose.yaml"}}},
		},
		{name: "empty object", target: "/api/projects/shop/deploy", body: `{}`, wantStatus: 200, want: &dispatch.Request{Ref: forge.ProjectRef{Name: "shop"}}},
		{name: "no body", target: "/api/projects/shop/deploy", wantStatus: 200, want: &dispatch.Request{Ref: forge.ProjectRef{Name: "shop"}}},
		{name: "unknown field", target: "/api/projects/shop/deploy", body: `{"services":["web"],"force":true}`, wantStatus: 400},
		{name: "name in body", target: "/api/projects/shop/deploy", body: `{"name":"other"}`, wantStatus: 400},
		{name: "wrong type", target: "/api/projects/shop/deploy", body: `{"services":"web"}`, wantStatus: 400},
		{name: "malformed", target: "/api/projects/shop/deploy", body: `{"services":[`, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{deploy: sampleDeploy(3, "shop", forge.StatusSucceeded)}
			a := do(t, newRouter(b, nil), http.MethodPost, tt.target, tt.body, http.Header{"Content-Type": {"application/json"}})
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", a.status, tt.wantStatus, a.body)
			}
			if tt.want == nil {
				if b.calls() != 0 {
					t.Errorf("a rejected body reached the backend: %+v", b.deploys)
				}
				if msg := a.errorText(t); !strings.Contains(msg, "malformed body") {
					t.Errorf("error %q, want a malformed body", msg)
				}
				return
			}
			if want := []dispatch.Request{*tt.want}; !reflect.DeepEqual(b.deploys, want) {
				t.Errorf("backend got\n %+v\nwant\n %+v", b.deploys, want)
			}
			var got api.DeployAnswer
			if err := json.Unmarshal(a.body, &got); err != nil {
				t.Fatalf("decode %s: %v", a.body, err)
			}
			if !reflect.DeepEqual(got.Deploy, b.deploy) {
				t.Errorf("answered %+v, want %+v", got.Deploy, b.deploy)
			}
		})
	}
}

func TestRollbackRequest(t *testing.T) {
	tests := []struct {
		name       string
		target     string
		body       string
		wantStatus int
		want       *dispatch.RollbackRequest
	}{
		{
			name: "every field", target: "/api/projects/shop/rollback", body: `{"to":12,"services":["web"],"user":"alice"}`,
			wantStatus: 200, want: &dispatch.RollbackRequest{Project: "shop", To: 12, Services: []string{"web"}, User: "alice"},
		},
		{name: "previous", target: "/api/projects/shop/rollback", body: `{}`, wantStatus: 200, want: &dispatch.RollbackRequest{Project: "shop"}},
		{name: "no body", target: "/api/projects/shop/rollback", wantStatus: 200, want: &dispatch.RollbackRequest{Project: "shop"}},
		{name: "unknown field", target: "/api/projects/shop/rollback", body: `{"to":12,"project":"other"}`, wantStatus: 400},
		{name: "negative id", target: "/api/projects/shop/rollback", body: `{"to":-1}`, wantStatus: 400},
		{name: "not JSON", target: "/api/projects/shop/rollback", body: `to=12`, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{rollback: sampleDeploy(4, "shop", forge.StatusSucceeded)}
			a := do(t, newRouter(b, nil), http.MethodPost, tt.target, tt.body, nil)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", a.status, tt.wantStatus, a.body)
			}
			if tt.want == nil {
				if b.calls() != 0 {
					t.Errorf("a rejected body reached the backend: %+v", b.rollbacks)
				}
				if msg := a.errorText(t); !strings.Contains(msg, "malformed body") {
					t.Errorf("error %q, want a malformed body", msg)
				}
				return
			}
			if want := []dispatch.RollbackRequest{*tt.want}; !reflect.DeepEqual(b.rollbacks, want) {
				t.Errorf("backend got %+v, want %+v", b.rollbacks, want)
			}
			var got api.DeployAnswer
			if err := json.Unmarshal(a.body, &got); err != nil {
				t.Fatalf("decode %s: %v", a.body, err)
			}
			if !reflect.DeepEqual(got.Deploy, b.rollback) {
				t.Errorf("answered %+v, want %+v", got.Deploy, b.rollback)
			}
		})
	}
}

// TestDeployOutcomes maps what the backend returns for a deploy or a rollback
// to the answer: a recorded deploy is 200 whether it failed or not; errors
// before anything was recorded become a status.
func TestDeployOutcomes(t *testing.T) {
	failed := sampleDeploy(9, "shop", forge.StatusFailed)
	tests := []struct {
		name       string
		deploy     forge.Deploy
		err        error
		wantStatus int
	}{
		{name: "succeeded", deploy: sampleDeploy(9, "shop", forge.StatusSucceeded), wantStatus: 200},
		{name: "failed deploy", deploy: failed, err: &dispatch.Failure{Deploy: failed}, wantStatus: 200},
		{name: "wrapped failure", deploy: failed, err: fmt.Errorf("queue: %w", &dispatch.Failure{Deploy: failed}), wantStatus: 200},
		{name: "unknown project", err: fmt.Errorf("find project shop: %w", dispatch.ErrUnknownProject), wantStatus: 404},
		{name: "no such deploy", err: fmt.Errorf("rollback shop: get deploy 99: %w", ledger.ErrNotFound), wantStatus: 404},
		{name: "nothing to roll back", err: fmt.Errorf("rollback shop: %w", dispatch.ErrNothingToRollBack), wantStatus: 409},
		{name: "engine down", err: fmt.Errorf("find project shop: %w", forge.ErrEngineUnavailable), wantStatus: 503},
		{name: "no such service", err: errors.New(`deploy shop: no service "db" in the compose project`), wantStatus: 400},
		{name: "busy", err: fmt.Errorf("rollback shop: %w", &dispatch.BusyError{Project: "shop", ID: 7, Status: forge.StatusRunning}), wantStatus: 409},
	}
	for _, op := range []string{"deploy", "rollback"} {
		for _, tt := range tests {
			t.Run(op+"/"+tt.name, func(t *testing.T) {
				b := &fakeBackend{deploy: tt.deploy, deployErr: tt.err, rollback: tt.deploy, rollbackErr: tt.err}
				a := do(t, newRouter(b, nil), http.MethodPost, "/api/projects/shop/"+op, `{}`, nil)
				if a.status != tt.wantStatus {
					t.Fatalf("status %d, want %d; body %s", a.status, tt.wantStatus, a.body)
				}
				if ct := a.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
				if tt.wantStatus != http.StatusOK {
					if got := a.errorText(t); got != tt.err.Error() {
						t.Errorf("error %q, want %q", got, tt.err.Error())
					}
					return
				}
				var got api.DeployAnswer
				dec := json.NewDecoder(strings.NewReader(string(a.body)))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&got); err != nil {
					t.Fatalf("decode %s: %v", a.body, err)
				}
				if !reflect.DeepEqual(got.Deploy, tt.deploy) {
					t.Errorf("answered\n %+v\nwant\n %+v", got.Deploy, tt.deploy)
				}
			})
		}
	}
}

// TestMethods checks that a request with the wrong method never reaches the
// backend.
func TestMethods(t *testing.T) {
	tests := []struct {
		method, target string
	}{
		{http.MethodPost, "/api/projects"},
		{http.MethodDelete, "/api/projects/shop/history"},
		{http.MethodGet, "/api/projects/shop/deploy"},
		{http.MethodGet, "/api/projects/shop/rollback"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			b := &fakeBackend{}
			a := do(t, newRouter(b, nil), tt.method, tt.target, "", nil)
			// gorilla/mux v1.8.1 answers 405 only for the subrouter's last
			// route: a later route's matching prefix clears the method
			// mismatch, so the others answer 404.
			if a.status != http.StatusMethodNotAllowed && a.status != http.StatusNotFound {
				t.Errorf("status %d, want 405 (or 404)", a.status)
			}
			if b.calls() != 0 {
				t.Errorf("a request with the wrong method reached the backend")
			}
		})
	}
}

// TestDeployOutlivesCaller checks that a deploy or rollback is not cancelled
// when the CLI that asked goes away (Ctrl-C, a dropped connection): a
// half-done compose up is worse than a finished one, and the daemon's
// shutdown bounds it instead.
func TestDeployOutlivesCaller(t *testing.T) {
	for _, op := range []string{"deploy", "rollback"} {
		t.Run(op, func(t *testing.T) {
			b := &fakeBackend{
				gate: make(chan struct{}), entered: make(chan context.Context, 1),
				deploy: sampleDeploy(1, "shop", forge.StatusSucceeded), rollback: sampleDeploy(2, "shop", forge.StatusSucceeded),
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/projects/shop/"+op, strings.NewReader(`{}`))
			rec := httptest.NewRecorder()
			done := make(chan struct{})
			go func() {
				defer close(done)
				newRouter(b, nil).ServeHTTP(rec, req)
			}()
			got := <-b.entered
			cancel() // the caller goes away mid-deploy
			if err := got.Err(); err != nil {
				t.Errorf("the %s's context ended with its caller: %v", op, err)
			}
			close(b.gate)
			<-done
			if rec.Code != http.StatusOK {
				t.Errorf("status %d, want 200", rec.Code)
			}
			if len(b.ctxErrs) != 1 || b.ctxErrs[0] != nil {
				t.Errorf("the %s finished with context errors %v, want none", op, b.ctxErrs)
			}
		})
	}
}

// TestLockRoute: a deploy ID that is not a number is a 400 before the
// backend is asked; a lock of a failed deploy is the backend's 400.
func TestLockRoute(t *testing.T) {
	b := &fakeBackend{}
	for _, q := range []string{"?deploy=x", "?deploy=0", "?deploy=-1"} {
		if a := do(t, newRouter(b, nil), http.MethodGet, "/api/projects/shop/lock"+q, "", nil); a.status != http.StatusBadRequest {
			t.Errorf("lock%s: status %d, want 400", q, a.status)
		}
	}
	if len(b.locks) != 0 {
		t.Errorf("a malformed deploy ID reached the backend: %+v", b.locks)
	}
	b.lockErr = errors.New("lock shop: deploy 3 failed; lock a successful deploy (see docker forge history shop)")
	if a := do(t, newRouter(b, nil), http.MethodGet, "/api/projects/shop/lock?deploy=3", "", nil); a.status != http.StatusBadRequest || a.errorText(t) != b.lockErr.Error() {
		t.Errorf("lock of a failed deploy: %d %s, want 400 with the reason", a.status, a.body)
	}
}
