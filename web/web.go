// Package web is docker-forge's dashboard: server-rendered pages of the
// projects, each project's deploy history (with rollback behind a
// confirmation), resource charts, logs and the host, over the same backend
// as the JSON API, in English and Russian. The templates, the message
// catalogues and the assets (uPlot among them, vendored) are embedded: the
// binary needs nothing else. The page's scripts only fetch what the server
// renders, and call the JSON API (with the session's CSRF token) to deploy
// and roll back.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/auth"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/expose"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// Backend is what the pages read: the part of api.Backend they show.
type Backend interface {
	Projects(ctx context.Context) ([]api.ProjectStatus, error)
	Project(ctx context.Context, name string) (api.ProjectStatus, error)
	History(ctx context.Context, project string, limit int) ([]forge.Deploy, error)
	Stats(ctx context.Context, q api.StatsQuery) ([]forge.StatSeries, error)
	Top(ctx context.Context, by string, limit int) ([]forge.TopEntry, error)
	System(ctx context.Context) (forge.HostStats, error)
	Diff(ctx context.Context, project, from, to string) (dispatch.Diff, error)
}

// Authenticator is the part of auth.Authenticator the pages use.
type Authenticator interface {
	Resolve(r *http.Request) (auth.Principal, error)
	SignIn(r *http.Request, token string) (auth.Session, error)
	SignOut(r *http.Request)
}

// Config configures the dashboard.
type Config struct {
	Backend Backend
	Auth    Authenticator
	// ViewerLogs lets viewers read containers' logs (serve --viewer-logs).
	ViewerLogs bool
	Logger     *slog.Logger
	// Zone is where dates are shown; nil means the server's local zone.
	Zone *time.Location
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server renders the dashboard.
type Server struct {
	cfg     Config
	log     *slog.Logger
	locales map[string]*Locale
	pages   map[string]map[string]*template.Template // lang -> page -> template set
	assets  string                                   // the assets' version
	static  fs.FS
}

// The pages and fragments, by name: each a template set of its own.
var pageFiles = map[string][]string{
	"projects": {"layout.html", "projects.html"},
	"project":  {"layout.html", "project.html", "history.html", "resources.html"},
	"system":   {"layout.html", "system.html", "resources.html"},
	"logs":     {"layout.html", "logs.html"},
	"signin":   {"layout.html", "signin.html"},
	"error":    {"layout.html", "error.html"},
}

// New parses the templates and catalogues; it fails only on a broken build.
func New(cfg Config) (*Server, error) {
	catalogs, err := loadCatalogs()
	if err != nil {
		return nil, err
	}
	return newServer(cfg, catalogs)
}

// newServer is New with the catalogues given (tests pass marked ones).
func newServer(cfg Config, catalogs map[string]Catalog) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Zone == nil {
		cfg.Zone = time.Local
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	static, err := fs.Sub(assetFiles, "assets")
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "web"), locales: map[string]*Locale{}, pages: map[string]map[string]*template.Template{}, static: static}
	for _, lang := range Languages {
		l := newLocale(lang, catalogs[lang], cfg.Zone)
		s.locales[lang] = l
		s.pages[lang] = map[string]*template.Template{}
		for name, files := range pageFiles {
			t := template.New(name).Funcs(s.funcs(l))
			for _, f := range files {
				b, err := templateFiles.ReadFile("templates/" + f)
				if err != nil {
					return nil, err
				}
				if _, err := t.Parse(string(b)); err != nil {
					return nil, fmt.Errorf("template %s: %w", f, err)
				}
			}
			s.pages[lang][name] = t
		}
	}
	if s.assets, err = assetVersion(static); err != nil {
		return nil, err
	}
	return s, nil
}

// funcs are the templates' functions, bound to one language.
func (s *Server) funcs(l *Locale) template.FuncMap {
	return template.FuncMap{
		"t":           l.T,
		"n":           l.N,
		"date":        l.Date,
		"ago":         func(t time.Time) string { return l.Ago(t, s.cfg.Now()) },
		"dur":         l.Duration,
		"pct":         l.Percent,
		"bytes":       l.Bytes,
		"num":         func(n any) string { return l.Int(toInt(n)) },
		"short":       shortDigest,
		"shortCommit": func(c string) string { return c[:min(len(c), 12)] },
		"reasonKey":   reasonKey,
		"stateKey":    stateKey,
		"whyKey":      func(w string) string { return "why." + strings.ReplaceAll(w, " ", "_") },
		"join":        strings.Join,
	}
}

func toInt(n any) int {
	switch v := n.(type) {
	case int:
		return v
	case uint64:
		return int(v)
	case uint32:
		return int(v)
	}
	return 0
}

// shortDigest is sha256:0123456789ab.
func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

// reasonKey is the catalogue key of a project's generic error.
func reasonKey(reason string) string {
	switch reason {
	case api.ReasonEngineDown:
		return "reason.engine_down"
	case api.ReasonLoad:
		return "reason.load"
	case api.ReasonContainers:
		return "reason.containers"
	}
	return "reason.unknown"
}

var states = []string{"running", "exited", "created", "restarting", "paused", "removing", "dead"}

// stateKey is the catalogue key of a container state.
func stateKey(state string) string {
	switch {
	case state == "":
		return "state.not_created"
	case slices.Contains(states, state):
		return "state." + state
	}
	return "state.unrecognized"
}

func assetVersion(static fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		h.Write([]byte(p))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:12], err
}

// Register adds the dashboard's routes to r.
func (s *Server) Register(r *mux.Router) {
	// A page about a project of another engine than the first names it
	// in ?context=, as the API does.
	pageOf := func(h func(w http.ResponseWriter, r *http.Request, pg page) error) http.Handler {
		return s.secure(api.EngineParam(s.signedIn(h, false)))
	}
	fragmentOf := func(h func(w http.ResponseWriter, r *http.Request, pg page) error) http.Handler {
		return s.secure(api.EngineParam(s.signedIn(h, true)))
	}
	r.Handle("/", pageOf(s.projectsPage)).Methods(http.MethodGet)
	r.Handle("/fragments/projects", fragmentOf(s.projectsFragment)).Methods(http.MethodGet)
	r.Handle("/projects/{name}", pageOf(s.projectPage)).Methods(http.MethodGet)
	r.Handle("/projects/{name}/history", fragmentOf(s.historyFragment)).Methods(http.MethodGet)
	r.Handle("/projects/{name}/rollback/{id}", fragmentOf(s.rollbackFragment)).Methods(http.MethodGet)
	r.Handle("/projects/{name}/diff", fragmentOf(s.diffFragment)).Methods(http.MethodGet)
	r.Handle("/projects/{name}/logs", pageOf(s.logsPage)).Methods(http.MethodGet)
	r.Handle("/system", pageOf(s.systemPage)).Methods(http.MethodGet)
	r.Handle("/fragments/top", fragmentOf(s.topFragment)).Methods(http.MethodGet)
	r.Handle("/signin", s.secure(http.HandlerFunc(s.signinPage))).Methods(http.MethodGet)
	r.Handle("/signin", s.secure(http.HandlerFunc(s.signin))).Methods(http.MethodPost)
	r.Handle("/signout", s.secure(http.HandlerFunc(s.signout))).Methods(http.MethodPost)
	r.Handle("/lang", s.secure(http.HandlerFunc(s.setLanguage))).Methods(http.MethodGet)
	r.PathPrefix("/assets/").Handler(s.secure(http.HandlerFunc(s.asset))).Methods(http.MethodGet, http.MethodHead)
}

// secure sets the page's security headers: no inline script, no framing.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// signedIn resolves the person behind a page: one not signed in is sent to
// the sign-in page (a fragment answers 401, and its page reloads).
func (s *Server) signedIn(h func(w http.ResponseWriter, r *http.Request, pg page) error, fragment bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.cfg.Auth.Resolve(r)
		pg := s.page(r, p, err == nil)
		if err != nil {
			if errors.Is(err, auth.ErrRateLimited) {
				s.renderError(w, r, pg, http.StatusTooManyRequests, "signin.limited", "")
				return
			}
			if fragment {
				http.Error(w, pg.L.T("signin.needed"), http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if err := h(w, r, pg); err != nil {
			s.fail(w, r, pg, err)
		}
	})
}

func (s *Server) page(r *http.Request, p auth.Principal, signedIn bool) page {
	l := s.locales[pickLanguage(r)]
	// html/template escapes the path where it goes in a query.
	pg := page{L: l, Now: s.cfg.Now(), User: p, SignedIn: signedIn, Path: r.URL.RequestURI(), Assets: s.assets,
		Context: api.EngineFrom(r.Context())}
	for _, lang := range Languages {
		pg.Langs = append(pg.Langs, langLink{Lang: lang, Name: s.locales[lang].T("lang.name"), Current: lang == l.Lang})
	}
	return pg
}

// pageError is an error a page answers with its own status and message.
type pageError struct {
	status int
	key    string // the catalogue key of the message
	arg    string
}

func (e *pageError) Error() string { return fmt.Sprintf("%d %s %s", e.status, e.key, e.arg) }

// fail answers a page that could not be shown: its own status and
// message, or, for an unexpected error, 500 with nothing of the error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, pg page, err error) {
	var pe *pageError
	switch {
	case errors.As(err, &pe):
	case errors.Is(err, dispatch.ErrUnknownProject):
		pe = &pageError{http.StatusNotFound, "error.no_project", mux.Vars(r)["name"]}
	case errors.Is(err, forge.ErrEngineUnavailable):
		pe = &pageError{http.StatusServiceUnavailable, "engine.down", ""}
	default:
		s.log.Error("page failed", "path", r.URL.Path, "error", err)
		pe = &pageError{http.StatusInternalServerError, "error.internal", ""}
	}
	s.renderError(w, r, pg, pe.status, pe.key, pe.arg)
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, pg page, status int, key, arg string) {
	pg.Page, pg.Title = "error", pg.L.T("error.title", status)
	if strings.HasPrefix(r.URL.Path, "/fragments/") || strings.Contains(r.URL.Path, "/history") || strings.Contains(r.URL.Path, "/rollback/") || strings.HasSuffix(r.URL.Path, "/diff") {
		http.Error(w, pg.L.T(key, arg), status)
		return
	}
	s.render(w, "error", "layout", status, pg, errorView{page: pg, Status: status, Message: key, Arg: arg})
}

// render executes a template into a buffer first, so a failure is a clean
// 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, pageName, tmpl string, status int, pg page, data any) {
	var buf bytes.Buffer
	if err := s.pages[pg.L.Lang][pageName].ExecuteTemplate(&buf, tmpl, data); err != nil {
		s.log.Error("template failed", "page", pageName, "template", tmpl, "error", err)
		http.Error(w, pg.L.T("error.internal"), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/assets/")
	b, err := fs.ReadFile(s.static, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == s.assets {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// window is the resource panel's window the request asks for.
func window(r *http.Request) (string, error) {
	w := r.URL.Query().Get("window")
	if w == "" {
		return DefaultWindow, nil
	}
	if !slices.Contains(Windows, w) {
		return "", &pageError{http.StatusBadRequest, "error.window", w}
	}
	return w, nil
}

// historyLimit bounds the deploys a history shows (the ledger keeps --keep).
const historyLimit = 200

func (s *Server) projectsView(ctx context.Context, pg page) (projectsView, error) {
	v := projectsView{page: pg}
	ps, err := s.cfg.Backend.Projects(ctx)
	if errors.Is(err, forge.ErrEngineUnavailable) {
		v.EngineDown = true // and the ledger holds no project
		return v, nil
	}
	if err != nil {
		return v, err
	}
	totals, err := s.cfg.Backend.Stats(ctx, api.StatsQuery{Window: DefaultWindow})
	if err != nil {
		s.log.Warn("sparklines not read", "error", err)
	}
	v.Projects, v.Active = projectRows(pg.L, ps, totals)
	for _, p := range ps {
		v.EngineDown = v.EngineDown || p.Error == api.ReasonEngineDown
	}
	return v, nil
}

func (s *Server) projectsPage(w http.ResponseWriter, r *http.Request, pg page) error {
	pg.Page, pg.Title = "projects", pg.L.T("projects.title")
	v, err := s.projectsView(r.Context(), pg)
	if err != nil {
		return err
	}
	s.render(w, "projects", "layout", http.StatusOK, pg, v)
	return nil
}

func (s *Server) projectsFragment(w http.ResponseWriter, r *http.Request, pg page) error {
	v, err := s.projectsView(r.Context(), pg)
	if err != nil {
		return err
	}
	if v.Active {
		w.Header().Set("X-Forge-Active", "1")
	}
	s.render(w, "projects", "projects-rows", http.StatusOK, pg, v)
	return nil
}

func (s *Server) history(ctx context.Context, pg page, project string) (historyView, error) {
	hist, err := s.cfg.Backend.History(ctx, project, historyLimit)
	if err != nil {
		return historyView{}, err
	}
	return newHistoryView(pg.L, pg.Now, project, hist, pg.User.Admin()), nil
}

func (s *Server) projectPage(w http.ResponseWriter, r *http.Request, pg page) error {
	name := mux.Vars(r)["name"]
	win, err := window(r)
	if err != nil {
		return err
	}
	p, err := s.cfg.Backend.Project(r.Context(), name)
	if err != nil {
		return err
	}
	hv, err := s.history(r.Context(), pg, name)
	if err != nil {
		return err
	}
	pg.Page, pg.Title, pg.UsesCharts = "project", name, true
	pg.EngineDown = p.Error == api.ReasonEngineDown
	v := projectView{page: pg, Name: p.Name, WorkingDir: p.WorkingDir, Engine: p.Engine, Stack: p.Stack, Error: p.Error, Attention: p.Attention, StateUnknown: p.StateUnknown,
		Services: serviceRows(p.Services), History: hv, CanDeploy: pg.User.Admin(), CanLog: pg.User.Admin() || s.cfg.ViewerLogs,
		Window: win, Windows: windowLinks(pg.L, win),
		Chart: chartView{L: pg.L, Src: "/api/projects/" + url.PathEscape(p.Name) + "/stats", Window: win}}
	for _, svc := range p.Services {
		v.ServiceNames = append(v.ServiceNames, svc.Name)
	}
	s.render(w, "project", "layout", http.StatusOK, pg, v)
	return nil
}

func (s *Server) historyFragment(w http.ResponseWriter, r *http.Request, pg page) error {
	hv, err := s.history(r.Context(), pg, mux.Vars(r)["name"])
	if err != nil {
		return err
	}
	if hv.Active {
		w.Header().Set("X-Forge-Active", "1")
	}
	s.render(w, "project", "history", http.StatusOK, pg, hv)
	return nil
}

func (s *Server) rollbackFragment(w http.ResponseWriter, r *http.Request, pg page) error {
	if !pg.User.Admin() {
		return &pageError{http.StatusForbidden, "error.admin_only", ""}
	}
	name := mux.Vars(r)["name"]
	id, err := strconv.ParseUint(mux.Vars(r)["id"], 10, 64)
	if err != nil {
		return &pageError{http.StatusBadRequest, "error.deploy_id", mux.Vars(r)["id"]}
	}
	hist, err := s.cfg.Backend.History(r.Context(), name, historyLimit)
	if err != nil {
		return err
	}
	var running []api.ServiceStatus
	if p, err := s.cfg.Backend.Project(r.Context(), name); err == nil && !p.StateUnknown {
		running = p.Services
	}
	v, ok := newRollbackView(pg.L, name, hist, id, running)
	if !ok {
		return &pageError{http.StatusNotFound, "error.no_rollback", strconv.FormatUint(id, 10)}
	}
	s.render(w, "project", "rollback", http.StatusOK, pg, v)
	return nil
}

func (s *Server) diffFragment(w http.ResponseWriter, r *http.Request, pg page) error {
	q := r.URL.Query()
	d, err := s.cfg.Backend.Diff(r.Context(), mux.Vars(r)["name"], q.Get("from"), q.Get("to"))
	if err != nil {
		return &pageError{http.StatusBadRequest, "error.diff", ""}
	}
	s.render(w, "project", "diff", http.StatusOK, pg, diffView{L: pg.L, Diff: d})
	return nil
}

func (s *Server) logsPage(w http.ResponseWriter, r *http.Request, pg page) error {
	if !pg.User.Admin() && !s.cfg.ViewerLogs {
		return &pageError{http.StatusForbidden, "error.logs_admin", ""}
	}
	name := mux.Vars(r)["name"]
	p, err := s.cfg.Backend.Project(r.Context(), name)
	if err != nil {
		return err
	}
	v := logsView{page: pg, Project: name, Service: r.URL.Query().Get("service")}
	for _, svc := range p.Services {
		v.Services = append(v.Services, svc.Name)
	}
	if v.Service != "" && !slices.Contains(v.Services, v.Service) {
		return &pageError{http.StatusNotFound, "error.no_service", v.Service}
	}
	v.Page, v.Title = "logs", pg.L.T("logs.title", name)
	s.render(w, "logs", "layout", http.StatusOK, v.page, v)
	return nil
}

func (s *Server) systemView(ctx context.Context, r *http.Request, pg page) (systemView, error) {
	win, err := window(r)
	if err != nil {
		return systemView{}, err
	}
	by := r.URL.Query().Get("by")
	if by != "memory" {
		by = "cpu"
	}
	v := systemView{page: pg, By: by, Window: win, Windows: windowLinks(pg.L, win),
		Chart: chartView{L: pg.L, Src: "/api/stats", Window: win, Sum: true}}
	if h, err := s.cfg.Backend.System(ctx); err == nil {
		v.Host = &h
	} else if errors.Is(err, forge.ErrEngineUnavailable) {
		v.EngineDown = true
	} else {
		return v, err
	}
	top, err := s.cfg.Backend.Top(ctx, by, 10)
	if err != nil {
		return v, err
	}
	if !pg.User.Admin() {
		for i := range top {
			top[i].ID = ""
		}
	}
	v.Top = top
	return v, nil
}

func (s *Server) systemPage(w http.ResponseWriter, r *http.Request, pg page) error {
	pg.Page, pg.Title, pg.UsesCharts = "system", pg.L.T("system.title"), true
	v, err := s.systemView(r.Context(), r, pg)
	if err != nil {
		return err
	}
	s.render(w, "system", "layout", http.StatusOK, v.page, v)
	return nil
}

func (s *Server) topFragment(w http.ResponseWriter, r *http.Request, pg page) error {
	v, err := s.systemView(r.Context(), r, pg)
	if err != nil {
		return err
	}
	s.render(w, "system", "top", http.StatusOK, pg, v)
	return nil
}

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	pg := s.page(r, auth.Principal{}, false)
	if p, err := s.cfg.Auth.Resolve(r); err == nil && p.Session != "" {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	pg.Page, pg.Title = "signin", pg.L.T("signin.title")
	s.render(w, "signin", "layout", http.StatusOK, pg, signinView{page: pg, Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	pg := s.page(r, auth.Principal{}, false)
	pg.Page, pg.Title = "signin", pg.L.T("signin.title")
	next := safeNext(r.PostFormValue("next"))
	if !sameOrigin(r) {
		s.render(w, "signin", "layout", http.StatusForbidden, pg, signinView{page: pg, Next: next, Problem: "signin.cross_site"})
		return
	}
	sess, err := s.cfg.Auth.SignIn(r, r.PostFormValue("token"))
	switch {
	case errors.Is(err, auth.ErrRateLimited):
		s.render(w, "signin", "layout", http.StatusTooManyRequests, pg, signinView{page: pg, Next: next, Problem: "signin.limited"})
		return
	case err != nil:
		s.render(w, "signin", "layout", http.StatusUnauthorized, pg, signinView{page: pg, Next: next, Problem: "signin.refused"})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: auth.CookieName, Value: sess.ID, Path: "/", Expires: sess.Expires, MaxAge: int(time.Until(sess.Expires).Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: expose.PeerOf(r).Secure,
	})
	s.log.Info("signed in", "token", sess.Principal.Name, "role", string(sess.Principal.Role))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	if _, err := s.cfg.Auth.Resolve(r); err != nil {
		pg := s.page(r, auth.Principal{}, false)
		s.renderError(w, r, pg, http.StatusForbidden, "error.signout", "")
		return
	}
	s.cfg.Auth.SignOut(r)
	http.SetCookie(w, &http.Cookie{Name: auth.CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: expose.PeerOf(r).Secure})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func (s *Server) setLanguage(w http.ResponseWriter, r *http.Request) {
	lang := r.URL.Query().Get("l")
	if slices.Contains(Languages, lang) {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode, Secure: expose.PeerOf(r).Secure})
	}
	http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
}

// safeNext is where to go after signing in: a path on this site only.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}

// sameOrigin refuses a sign-in posted from another site (login CSRF).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" && r.Header.Get("Sec-Fetch-Site") == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}
