package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/collector"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/ledger"
	"github.com/docker-forge/docker-forge/webhook"
)

// DeployBody is the body of POST /api/projects/{name}/deploy.
type DeployBody struct {
	Services    []string `json:"services,omitempty"`
	ConfigFiles []string `json:"config_files,omitempty"`
	WorkingDir  string   `json:"working_dir,omitempty"`
	EnvFiles    []string `json:"env_files,omitempty"`
	Profiles    []string `json:"profiles,omitempty"`
	User        string   `json:"user,omitempty"`
	// Build builds the services with a build: section first (deploy --build).
	Build bool `json:"build,omitempty"`
	// NoWait refuses with 409 when another deploy of the project runs or
	// is queued, instead of waiting for it.
	NoWait bool `json:"no_wait,omitempty"`
	// Stack deploys a swarm stack (deploy --swarm): ConfigFiles are its
	// stack file.
	Stack bool `json:"stack,omitempty"`
}

// RollbackBody is the body of POST /api/projects/{name}/rollback.
type RollbackBody struct {
	To       uint64   `json:"to,omitempty"`
	Services []string `json:"services,omitempty"`
	User     string   `json:"user,omitempty"`
	// NoWait refuses with 409 when another deploy of the project runs or
	// is queued, instead of waiting for it.
	NoWait bool `json:"no_wait,omitempty"`
	// ImagesOnly restores the images only, not the configuration.
	ImagesOnly bool `json:"images_only,omitempty"`
}

// BusyAnswer is the 409 answer to a deploy or rollback asked not to wait
// while another deploy of its project runs or is queued.
type BusyAnswer struct {
	Error string              `json:"error"`
	Busy  *dispatch.BusyError `json:"busy"`
}

// DeployAnswer is the answer to a deploy or rollback: the recorded deploy.
type DeployAnswer struct {
	Deploy forge.Deploy `json:"deploy"`
}

// Register adds the API routes to r. Every request is resolved to a
// principal by az first: on the unix socket auth.Trusted (permissions are
// the auth, as with the Docker socket), on the TCP listener the tokens and
// browser sessions of an auth.Authenticator. Viewers read; deploys,
// rollbacks and tokens need an admin (403 otherwise); a viewer's top
// answers carry no container IDs.
//
// Deploys and rollbacks run on detach's context: one that the caller going
// away does not end, but the daemon's shutdown does (see WithDetach).
func Register(r *mux.Router, b Backend, az Authorizer, log *slog.Logger, opts ...Option) {
	h := &handlers{b: b, log: log, detach: func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithCancel(context.WithoutCancel(ctx))
	}}
	for _, o := range opts {
		o(h)
	}
	sub := r.PathPrefix("/api/").Subrouter()
	sub.Use(func(next http.Handler) http.Handler { return Authenticate(az, next) }, EngineParam)
	sub.Handle("/projects", webhook.Handler(h.projects)).Methods(http.MethodGet)
	sub.Handle("/projects/{name}", webhook.Handler(h.project)).Methods(http.MethodGet)
	sub.Handle("/projects/{name}/history", webhook.Handler(h.history)).Methods(http.MethodGet)
	sub.Handle("/projects/{name}/deploy", admin(h.deploy)).Methods(http.MethodPost)
	sub.Handle("/projects/{name}/rollback", admin(h.rollback)).Methods(http.MethodPost)
	sub.Handle("/projects/{name}/lock", webhook.Handler(h.lock)).Methods(http.MethodGet)
	sub.Handle("/projects/{name}/logs", webhook.Handler(h.logs)).Methods(http.MethodGet)
	sub.Handle("/projects/{name}/diff", webhook.Handler(h.diff)).Methods(http.MethodGet)
	sub.Handle("/projects/{name}/forget", admin(h.forget)).Methods(http.MethodPost)
	sub.Handle("/notify", webhook.Handler(h.notifications)).Methods(http.MethodGet)
	sub.Handle("/tokens", admin(h.tokens)).Methods(http.MethodGet)
	sub.Handle("/tokens", admin(h.createToken)).Methods(http.MethodPost)
	sub.Handle("/tokens/{name}", admin(h.revokeToken)).Methods(http.MethodDelete)
	h.registerStats(sub)
}

type handlers struct {
	b      Backend
	log    *slog.Logger
	detach func(context.Context) (context.Context, context.CancelFunc)
	// viewerLogs lets viewers read containers' logs (serve --viewer-logs);
	// logs can carry secrets, so by default only admins do.
	viewerLogs bool
}

// Option tunes Register.
type Option func(*handlers)

// WithViewerLogs lets viewers read containers' logs.
func WithViewerLogs(on bool) Option {
	return func(h *handlers) { h.viewerLogs = on }
}

// WithDetach sets how a deploy's context is made from its request's: the
// daemon passes one that outlives the request and ends with its shutdown.
func WithDetach(detach func(context.Context) (context.Context, context.CancelFunc)) Option {
	return func(h *handlers) { h.detach = detach }
}

func (h *handlers) projects(w http.ResponseWriter, r *http.Request) error {
	ps, err := h.b.Projects(r.Context())
	if err != nil {
		return h.fail(err)
	}
	return webhook.WriteJSON(w, http.StatusOK, ps)
}

func (h *handlers) project(w http.ResponseWriter, r *http.Request) error {
	p, err := h.b.Project(r.Context(), mux.Vars(r)["name"])
	if err != nil {
		return h.fail(err)
	}
	return webhook.WriteJSON(w, http.StatusOK, p)
}

func (h *handlers) history(w http.ResponseWriter, r *http.Request) error {
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return webhook.Errorf(http.StatusBadRequest, "limit %q is not a count", s)
		}
		limit = n
	}
	hist, err := h.b.History(r.Context(), mux.Vars(r)["name"], limit)
	if err != nil {
		return h.fail(err)
	}
	return webhook.WriteJSON(w, http.StatusOK, hist)
}

func (h *handlers) deploy(w http.ResponseWriter, r *http.Request) error {
	var body DeployBody
	if err := decode(r, &body); err != nil {
		return err
	}
	name := mux.Vars(r)["name"]
	if name == "-" {
		name = "" // the compose model names the project
	}
	req := dispatch.Request{
		Ref: forge.ProjectRef{
			Name: name, ConfigFiles: body.ConfigFiles, WorkingDir: body.WorkingDir,
			EnvFiles: body.EnvFiles, Profiles: body.Profiles, Stack: body.Stack,
		},
		Services: body.Services,
		User:     who(r, body.User),
		Build:    body.Build,
		NoWait:   body.NoWait,
	}
	// A deploy runs to its end even if the CLI that asked goes away: it is
	// bounded by the daemon's shutdown, not by the request.
	ctx, cancel := h.detach(r.Context())
	defer cancel()
	d, err := h.b.Deploy(ctx, req)
	return h.deployAnswer(w, d, err)
}

func (h *handlers) rollback(w http.ResponseWriter, r *http.Request) error {
	var body RollbackBody
	if err := decode(r, &body); err != nil {
		return err
	}
	ctx, cancel := h.detach(r.Context())
	defer cancel()
	d, err := h.b.Rollback(ctx, dispatch.RollbackRequest{
		Project: mux.Vars(r)["name"], To: body.To, Services: body.Services, User: who(r, body.User), NoWait: body.NoWait, ImagesOnly: body.ImagesOnly,
	})
	return h.deployAnswer(w, d, err)
}

func (h *handlers) diff(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d, err := h.b.Diff(r.Context(), mux.Vars(r)["name"], q.Get("from"), q.Get("to"))
	if err != nil {
		return h.fail(err)
	}
	return webhook.WriteJSON(w, http.StatusOK, d)
}

// ForgetBody is the body of POST /api/projects/{name}/forget.
type ForgetBody struct {
	Force bool `json:"force,omitempty"`
}

func (h *handlers) forget(w http.ResponseWriter, r *http.Request) error {
	var body ForgetBody
	if err := decode(r, &body); err != nil {
		return err
	}
	out, err := h.b.Forget(r.Context(), mux.Vars(r)["name"], body.Force)
	if err != nil {
		return h.fail(err)
	}
	return webhook.WriteJSON(w, http.StatusOK, out)
}

func (h *handlers) lock(w http.ResponseWriter, r *http.Request) error {
	var id uint64
	if s := r.URL.Query().Get("deploy"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return webhook.Errorf(http.StatusBadRequest, "deploy %q is not a deploy ID", s)
		}
		id = n
	}
	l, err := h.b.Lock(r.Context(), mux.Vars(r)["name"], id)
	if err != nil {
		return h.fail(err)
	}
	return webhook.WriteJSON(w, http.StatusOK, l)
}

// deployAnswer answers 200 with the recorded deploy, failed or not; errors
// before anything was recorded map to a status.
func (h *handlers) deployAnswer(w http.ResponseWriter, d forge.Deploy, err error) error {
	if busy, ok := errors.AsType[*dispatch.BusyError](err); ok {
		return webhook.WriteJSON(w, http.StatusConflict, BusyAnswer{Error: err.Error(), Busy: busy})
	}
	if _, failed := errors.AsType[*dispatch.Failure](err); err != nil && !failed {
		return h.fail(err)
	}
	return webhook.WriteJSON(w, http.StatusOK, DeployAnswer{Deploy: d})
}

func (h *handlers) fail(err error) error {
	if status, ok := tokenErrorStatus(err); ok {
		return webhook.Errorf(status, "%v", err)
	}
	switch {
	case errors.Is(err, forge.ErrNoContainer):
		return webhook.Errorf(http.StatusNotFound, "%v", err)
	case errors.Is(err, dispatch.ErrUnknownProject), errors.Is(err, ledger.ErrNotFound), errors.Is(err, ErrUnknownEngine):
		return webhook.Errorf(http.StatusNotFound, "%v", err)
	case errors.Is(err, collector.ErrBadQuery):
		return webhook.Errorf(http.StatusBadRequest, "%v", err)
	case errors.Is(err, dispatch.ErrNothingToRollBack), errors.Is(err, dispatch.ErrStillRunning):
		return webhook.Errorf(http.StatusConflict, "%v", err)
	case errors.Is(err, forge.ErrEngineUnavailable):
		return webhook.Errorf(http.StatusServiceUnavailable, "%v", err)
	}
	// Other errors are the user's input (no such service, a compose file
	// that does not load) or the engine; their text carries no secret, as
	// the dispatcher never returns raw deploy errors.
	h.log.Warn("api request failed", "error", err)
	return webhook.Errorf(http.StatusBadRequest, "%v", err)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return webhook.Errorf(http.StatusBadRequest, "malformed body: %v", err)
	}
	return nil
}
