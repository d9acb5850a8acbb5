package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"golang.org/x/net/html"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/auth"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/snapshot"
)

var t0 = time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)

func dg(c string) string { return "sha256:" + strings.Repeat(c, 64) }

// fakeBackend serves a fixed world: shop (web follows pushes, tool is a
// local image, a deploy running) and blog (never deployed, engine can't say).
type fakeBackend struct {
	mu         sync.Mutex
	engineDown bool
	projects   []api.ProjectStatus
	history    map[string][]forge.Deploy
	stats      []forge.StatSeries
	top        []forge.TopEntry
	host       forge.HostStats
}

func newFakeBackend() *fakeBackend {
	push := forge.Deploy{ID: 12, Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusSucceeded,
		Trigger: forge.Trigger{Provider: "distribution", Delivery: "d-1"}, Queued: t0, Started: t0, Finished: t0.Add(900 * time.Millisecond),
		Services: []forge.ServiceDeploy{{Service: "web", Image: "registry.test/shop/web:live", Previous: dg("a"), Pinned: "registry.test/shop/web@" + dg("b"), Digest: dg("b"), Changed: true, Enabled: true, Why: []string{forge.WhyDigest, forge.WhyConfig}, Summary: "digest, 1 env"}}}
	first := forge.Deploy{ID: 11, Project: "shop", Reason: forge.ReasonManual, Status: forge.StatusSucceeded,
		Trigger: forge.Trigger{User: "alice"}, Queued: t0.Add(-time.Hour), Started: t0.Add(-time.Hour), Finished: t0.Add(-time.Hour + 2*time.Second),
		Services: []forge.ServiceDeploy{
			{Service: "web", Image: "registry.test/shop/web:live", Pinned: "registry.test/shop/web@" + dg("a"), Digest: dg("a"), Changed: true, Enabled: true, Why: []string{forge.WhyCreated}},
			{Service: "tool", Image: "acme/tool:dev", Pinned: dg("c"), Digest: dg("c"), Local: true, Changed: true, Why: []string{forge.WhyCreated}},
		}}
	failed := forge.Deploy{ID: 13, Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusFailed, Error: "health gate failed: web is unhealthy",
		Queued: t0.Add(time.Minute), Started: t0.Add(time.Minute), Finished: t0.Add(2 * time.Minute), RevertedBy: 14,
		Services: []forge.ServiceDeploy{{Service: "web", Previous: dg("b"), Digest: dg("d"), Changed: true}}}
	auto := forge.Deploy{ID: 14, Project: "shop", Reason: forge.ReasonRollback, Status: forge.StatusSucceeded, Reverts: 13, RollbackOf: 12,
		Queued: t0.Add(2 * time.Minute), Started: t0.Add(2 * time.Minute), Finished: t0.Add(3 * time.Minute),
		Services: []forge.ServiceDeploy{{Service: "web", Previous: dg("d"), Digest: dg("b"), Changed: true}}}
	running := forge.Deploy{ID: 15, Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusRunning, Queued: t0.Add(4 * time.Minute), Started: t0.Add(4 * time.Minute),
		Commit:   strings.Repeat("c0", 20),
		Services: []forge.ServiceDeploy{{Service: "web", Previous: dg("b"), Pinned: "registry.test/shop/web@" + dg("e"), Requested: dg("e")}}}
	var points []forge.StatPoint
	for i := range 10 {
		points = append(points, forge.StatPoint{Time: t0.Add(time.Duration(i) * 15 * time.Second), CPU: float64(i), Memory: uint64(i+1) * 1 << 20})
	}
	return &fakeBackend{
		projects: []api.ProjectStatus{
			{Name: "blog", WorkingDir: "/srv/blog", Services: []api.ServiceStatus{}, Error: api.ReasonLoad},
			{Name: "shop", WorkingDir: "/srv/shop", LastDeploy: &running, Services: []api.ServiceStatus{
				{Name: "web", Image: "registry.test/shop/web:live", Digest: dg("b"), State: "running", Enabled: true},
				{Name: "tool", Image: "acme/tool:dev", ImageID: dg("c"), State: "running"},
			}},
		},
		history: map[string][]forge.Deploy{"shop": {running, auto, failed, push, first}},
		stats:   []forge.StatSeries{{Project: "shop", Points: points}},
		top:     []forge.TopEntry{{Name: "shop/web", Container: "shop-web-1", ID: strings.Repeat("f00d", 16), Time: t0, CPU: 3.5, Memory: 40 << 20}},
		host:    forge.HostStats{EngineVersion: "20.10.24", APIVersion: "1.41", CPUs: 2, Memory: 24 << 30, ContainersRunning: 3, Images: 7, Time: t0},
	}
}

func (f *fakeBackend) Projects(context.Context) ([]api.ProjectStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.engineDown {
		out := []api.ProjectStatus{}
		for _, p := range f.projects {
			out = append(out, api.ProjectStatus{Name: p.Name, WorkingDir: p.WorkingDir, LastDeploy: p.LastDeploy, Services: []api.ServiceStatus{}, Error: api.ReasonEngineDown, StateUnknown: true})
		}
		return out, nil
	}
	return f.projects, nil
}

func (f *fakeBackend) Project(ctx context.Context, name string) (api.ProjectStatus, error) {
	ps, _ := f.Projects(ctx)
	for _, p := range ps {
		if p.Name == name {
			if e := api.EngineFrom(ctx); e != "" {
				p.Engine = e // the engine the page asked for
			}
			return p, nil
		}
	}
	return api.ProjectStatus{}, fmt.Errorf("project %s: %w", name, dispatch.ErrUnknownProject)
}

func (f *fakeBackend) History(_ context.Context, project string, _ int) ([]forge.Deploy, error) {
	return f.history[project], nil
}

func (f *fakeBackend) Stats(context.Context, api.StatsQuery) ([]forge.StatSeries, error) {
	return f.stats, nil
}

func (f *fakeBackend) Top(context.Context, string, int) ([]forge.TopEntry, error) {
	return append([]forge.TopEntry(nil), f.top...), nil
}

func (f *fakeBackend) Diff(_ context.Context, project, from, to string) (dispatch.Diff, error) {
	if from == "bad" {
		return dispatch.Diff{}, errors.New("diff: no deploy")
	}
	return dispatch.Diff{Project: project, From: from, To: to, Services: []dispatch.ServiceDiff{{Service: "web", Changes: []snapshot.Change{
		{Field: "environment.LOG_LEVEL", From: "info", To: "debug"}, {Field: "environment.DB_PASSWORD", Secret: true},
		{Field: "ports", Added: []string{"8443:443/tcp"}}, {Field: "image", From: "registry.test/shop/web@" + dg("a"), To: "registry.test/shop/web@" + dg("b")},
	}}}}, nil
}

func (f *fakeBackend) System(context.Context) (forge.HostStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.engineDown {
		return forge.HostStats{}, forge.ErrEngineUnavailable
	}
	return f.host, nil
}

// tokens is an auth.TokenStore in memory.
type tokens map[string]forge.Token

func (t tokens) Tokens() ([]forge.Token, error) {
	var out []forge.Token
	for _, v := range t {
		out = append(out, v)
	}
	return out, nil
}

func (t tokens) Token(name string) (forge.Token, error) {
	if v, ok := t[name]; ok {
		return v, nil
	}
	return forge.Token{}, errors.New("no token")
}

// world is a dashboard with a viewer's and an admin's sessions.
type world struct {
	b       *fakeBackend
	r       *mux.Router
	authn   *auth.Authenticator
	viewer  string // token
	admin   string
	vCookie *http.Cookie
	aCookie *http.Cookie
	aCSRF   string
}

func newWorld(t *testing.T, opts ...func(*Config)) *world {
	t.Helper()
	return newWorldWith(t, nil, opts...)
}

func newWorldWith(t *testing.T, catalogs map[string]Catalog, opts ...func(*Config)) *world {
	t.Helper()
	w := &world{b: newFakeBackend()}
	toks := tokens{}
	var vh, ah string
	w.viewer, vh = auth.NewToken()
	w.admin, ah = auth.NewToken()
	toks["alice"] = forge.Token{Name: "alice", Role: forge.RoleViewer, Hash: vh}
	toks["bob"] = forge.Token{Name: "bob", Role: forge.RoleAdmin, Hash: ah}
	w.authn = auth.New(auth.Config{Tokens: toks, Limiter: auth.NewLimiter(1000, time.Minute)})
	cfg := Config{Backend: w.b, Auth: w.authn, Zone: time.UTC, Now: func() time.Time { return t0.Add(5 * time.Minute) }}
	for _, o := range opts {
		o(&cfg)
	}
	if catalogs == nil {
		var err error
		if catalogs, err = loadCatalogs(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := newServer(cfg, catalogs)
	if err != nil {
		t.Fatal(err)
	}
	w.r = mux.NewRouter()
	s.Register(w.r)
	w.vCookie = w.signIn(t, w.viewer)
	w.aCookie = w.signIn(t, w.admin)
	sess, _ := w.authn.Resolve(w.req(http.MethodGet, "/", nil, w.aCookie))
	w.aCSRF = sess.CSRF
	return w
}

func (w *world) req(method, target string, body io.Reader, c *http.Cookie) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = "127.0.0.1:4000"
	if body != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c != nil {
		r.AddCookie(c)
	}
	return r
}

func (w *world) do(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	w.r.ServeHTTP(rec, r)
	return rec
}

func (w *world) get(t *testing.T, target string, c *http.Cookie, lang string) *httptest.ResponseRecorder {
	t.Helper()
	r := w.req(http.MethodGet, target, nil, c)
	if lang != "" {
		r.Header.Set("Accept-Language", lang)
	}
	return w.do(r)
}

func (w *world) signIn(t *testing.T, token string) *http.Cookie {
	t.Helper()
	rec := w.do(w.req(http.MethodPost, "/signin", strings.NewReader(url.Values{"token": {token}, "next": {"/"}}.Encode()), nil))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("sign in: %d %s", rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == auth.CookieName {
			return c
		}
	}
	t.Fatal("sign in set no session cookie")
	return nil
}

// TestPagesByRole: every page answers both roles; the viewer's pages carry
// no deploy or rollback control, the admin's do; logs are the admin's.
func TestPagesByRole(t *testing.T) {
	w := newWorld(t)
	pages := []string{"/", "/projects/shop", "/projects/shop?window=30d", "/system", "/system?by=memory", "/fragments/projects", "/projects/shop/history", "/fragments/top"}
	for _, p := range pages {
		for _, who := range []struct {
			name string
			c    *http.Cookie
		}{{"viewer", w.vCookie}, {"admin", w.aCookie}} {
			rec := w.get(t, p, who.c, "")
			if rec.Code != http.StatusOK {
				t.Errorf("%s %s: %d %s", who.name, p, rec.Code, rec.Body)
			}
		}
	}
	viewer := w.get(t, "/projects/shop", w.vCookie, "").Body.String()
	admin := w.get(t, "/projects/shop", w.aCookie, "").Body.String()
	for _, control := range []string{"data-rollback=", "data-deploy=", "/logs?service="} {
		if strings.Contains(viewer, control) {
			t.Errorf("the viewer's project page carries %s", control)
		}
		if !strings.Contains(admin, control) {
			t.Errorf("the admin's project page lacks %s", control)
		}
	}
	// The admin can return to #12 and #11, not to what runs (#14), the
	// failed #13 or the running #15.
	for _, id := range []string{"11", "12"} {
		if !strings.Contains(admin, `data-rollback="`+id+`"`) {
			t.Errorf("no rollback control for deploy %s", id)
		}
	}
	for _, id := range []string{"13", "14", "15"} {
		if strings.Contains(admin, `data-rollback="`+id+`"`) {
			t.Errorf("a rollback control for deploy %s", id)
		}
	}
	projects := w.get(t, "/", w.vCookie, "").Body.String()
	for _, want := range []string{"at commit c0c0c0c0c0c0", "web → " + shortDigest(dg("e")), "#15"} {
		if !strings.Contains(projects, want) {
			t.Errorf("the projects page lacks %q (the running deploy, its target and commit)", want)
		}
	}
	if rec := w.get(t, "/projects/shop/logs?service=web", w.vCookie, ""); rec.Code != http.StatusForbidden {
		t.Errorf("viewer's logs page: %d, want 403", rec.Code)
	}
	if rec := w.get(t, "/projects/shop/logs?service=web", w.aCookie, ""); rec.Code != http.StatusOK {
		t.Errorf("admin's logs page: %d", rec.Code)
	}
	if rec := w.get(t, "/projects/shop/rollback/12", w.vCookie, ""); rec.Code != http.StatusForbidden {
		t.Errorf("viewer's rollback confirmation: %d, want 403", rec.Code)
	}
	if body := w.get(t, "/fragments/top", w.vCookie, "").Body.String(); strings.Contains(body, "f00d") {
		t.Error("the viewer's top consumers carry a container ID")
	}
	viewerLogs := newWorld(t, func(c *Config) { c.ViewerLogs = true })
	if rec := viewerLogs.get(t, "/projects/shop/logs?service=web", viewerLogs.vCookie, ""); rec.Code != http.StatusOK {
		t.Errorf("viewer's logs page with --viewer-logs: %d", rec.Code)
	}
}

// TestNotSignedIn: pages send strangers to the sign-in page, fragments
// answer 401, and a wrong or malformed token is refused with a page.
func TestNotSignedIn(t *testing.T) {
	w := newWorld(t)
	rec := w.get(t, "/projects/shop?window=6h", nil, "")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/signin?next="+url.QueryEscape("/projects/shop?window=6h") {
		t.Errorf("a page without a session: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := w.get(t, "/projects/shop/history", nil, ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("a fragment without a session: %d", rec.Code)
	}
	for _, tok := range []string{"nonsense", "forge_" + strings.Repeat("A", 43), ""} {
		rec := w.do(w.req(http.MethodPost, "/signin", strings.NewReader(url.Values{"token": {tok}}.Encode()), nil))
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "That token was not accepted") {
			t.Errorf("sign in with %q: %d", tok, rec.Code)
		}
		if len(rec.Result().Cookies()) != 0 {
			t.Errorf("a refused sign-in set a cookie")
		}
	}
	cross := w.req(http.MethodPost, "/signin", strings.NewReader(url.Values{"token": {w.admin}}.Encode()), nil)
	cross.Header.Set("Origin", "https://evil.example")
	if rec := w.do(cross); rec.Code != http.StatusForbidden {
		t.Errorf("a sign-in posted from another site: %d, want 403", rec.Code)
	}
}

// TestSessionCookie: the session cookie is HttpOnly, SameSite=Strict,
// expiring, Secure over TLS; sign-out needs the CSRF token and ends it.
func TestSessionCookie(t *testing.T) {
	w := newWorld(t)
	for _, tls := range []bool{false, true} {
		r := w.req(http.MethodPost, "/signin", strings.NewReader(url.Values{"token": {w.viewer}, "next": {"//evil.example/"}}.Encode()), nil)
		if tls {
			r.TLS = &tlsState
		}
		rec := w.do(r)
		if loc := rec.Header().Get("Location"); loc != "/" {
			t.Errorf("sign-in's next %q: went to %q, want /", "//evil.example/", loc)
		}
		c := rec.Result().Cookies()[0]
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != tls || c.Expires.IsZero() || c.MaxAge <= 0 {
			t.Errorf("session cookie over TLS=%v: %+v", tls, c)
		}
	}
	noCSRF := w.req(http.MethodPost, "/signout", strings.NewReader(""), w.aCookie)
	if rec := w.do(noCSRF); rec.Code != http.StatusForbidden {
		t.Errorf("sign-out without CSRF: %d, want 403", rec.Code)
	}
	out := w.do(w.req(http.MethodPost, "/signout", strings.NewReader(url.Values{"csrf": {w.aCSRF}}.Encode()), w.aCookie))
	if out.Code != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", out.Code)
	}
	if rec := w.get(t, "/", w.aCookie, ""); rec.Code != http.StatusSeeOther {
		t.Errorf("after sign-out the session still works: %d", rec.Code)
	}
}

// TestBadInput: an unknown project, a window the page does not show, a
// deploy number that is not one: a clear page with its status, never 500.
func TestBadInput(t *testing.T) {
	w := newWorld(t)
	for _, tt := range []struct {
		target string
		status int
		says   string
	}{
		{"/projects/nosuch", 404, "No project named nosuch"},
		{"/projects/shop?window=3y", 400, "3y is not a window"},
		{"/projects/shop?window=%3Cscript%3E", 400, "&lt;script&gt;"},
		{"/system?window=1y", 400, "1y is not a window"},
		{"/projects/shop/rollback/zz", 400, "zz is not a deploy number"},
		{"/projects/shop/rollback/13", 404, "cannot be returned to"},
		{"/projects/shop/logs?service=nope", 404, "no service named nope"},
	} {
		rec := w.get(t, tt.target, w.aCookie, "")
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.says) {
			t.Errorf("%s: %d %q, want %d saying %q", tt.target, rec.Code, rec.Body, tt.status, tt.says)
		}
	}
}

// TestEngineDown: with the engine unreachable the pages say so in a state
// of their own and still show what the ledger holds.
func TestEngineDown(t *testing.T) {
	w := newWorld(t)
	w.b.engineDown = true
	for _, p := range []string{"/", "/projects/shop", "/system"} {
		rec := w.get(t, p, w.vCookie, "")
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(body, "The Docker engine cannot be reached") {
			t.Errorf("%s with the engine down: %d, no engine-down state", p, rec.Code)
		}
		if p != "/system" && !strings.Contains(body, "shop") {
			t.Errorf("%s with the engine down lost the ledger's projects", p)
		}
	}
	if body := w.get(t, "/projects/shop", w.vCookie, "").Body.String(); !strings.Contains(body, "#12") || !strings.Contains(body, "unknown") && !strings.Contains(body, "cannot be read") {
		t.Error("the project page with the engine down lacks its history or its unknown state")
	}
}

// TestDiffOnDemand: a deploy that changed the configuration says so in its
// row, with the diff a click away; secrets show as changed only.
func TestDiffOnDemand(t *testing.T) {
	w := newWorld(t)
	page := w.get(t, "/projects/shop", w.vCookie, "").Body.String()
	if !strings.Contains(page, `data-diff="/projects/shop/diff?from=11&amp;to=12"`) || !strings.Contains(page, "configuration: web: digest, 1 env") {
		t.Errorf("deploy #12's row lacks its configuration summary and diff")
	}
	body := w.get(t, "/projects/shop/diff?from=11&to=12", w.vCookie, "").Body.String()
	for _, want := range []string{"environment.LOG_LEVEL", "<del>info</del> → <ins>debug</ins>", "+8443:443/tcp", "changed (a secret", shortDigest(dg("b"))} {
		if !strings.Contains(body, want) {
			t.Errorf("the diff lacks %q:\n%s", want, body)
		}
	}
	if rec := w.get(t, "/projects/shop/diff?from=bad", w.vCookie, ""); rec.Code != http.StatusBadRequest {
		t.Errorf("a diff that cannot be made: %d", rec.Code)
	}
}

// TestRollbackConfirmation lists exactly what a rollback changes.
func TestRollbackConfirmation(t *testing.T) {
	w := newWorld(t)
	body := w.get(t, "/projects/shop/rollback/11", w.aCookie, "").Body.String()
	// web runs b and goes back to a; tool already runs c.
	if !strings.Contains(body, shortDigest(dg("b"))) || !strings.Contains(body, shortDigest(dg("a"))) || !strings.Contains(body, "Unchanged: tool") {
		t.Errorf("confirmation of a rollback to #11:\n%s", body)
	}
	if n := strings.Count(body, `<tr><th scope="row">`); n != 1 {
		t.Errorf("the confirmation lists %d changes, want web's only:\n%s", n, body)
	}
}

// TestRussian: the page follows Accept-Language, and the switch's choice
// wins over it; dates and numbers follow the language.
func TestRussian(t *testing.T) {
	w := newWorld(t)
	ru := w.get(t, "/projects/shop", w.vCookie, "ru-RU,ru;q=0.9,en;q=0.5").Body.String()
	for _, want := range []string{`lang="ru"`, "История развёртываний", "Сервисы", "7 дек. 2026 г., 09:30:00", "новый дайджест"} {
		if !strings.Contains(ru, want) {
			t.Errorf("the Russian page lacks %q", want)
		}
	}
	if strings.Contains(ru, "Deploy history") {
		t.Error("the Russian page carries English")
	}
	sys := w.get(t, "/system", w.vCookie, "ru").Body.String()
	if !strings.Contains(sys, "24,0 ГиБ") || !strings.Contains(sys, "3,5 %") {
		t.Errorf("Russian numbers: no 24,0 ГиБ or 3,5 %% in the system page")
	}
	// The switch comes back to the very page it was clicked on.
	page := w.get(t, "/projects/shop?window=6h", w.vCookie, "en").Body.String()
	m := regexp.MustCompile(`href="(/lang\?l=ru[^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no switch to Russian on the page")
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil || u.Query().Get("next") != "/projects/shop?window=6h" {
		t.Errorf("the switch to Russian goes back to %q, want /projects/shop?window=6h", u.Query().Get("next"))
	}
	rec := w.do(w.req(http.MethodGet, "/lang?l=ru&next=/system", nil, w.vCookie))
	c := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/system" || len(c) != 1 || c[0].Value != "ru" {
		t.Fatalf("language switch: %d %v", rec.Code, c)
	}
	r := w.req(http.MethodGet, "/", nil, w.vCookie)
	r.AddCookie(c[0])
	r.Header.Set("Accept-Language", "en")
	if body := w.do(r).Body.String(); !strings.Contains(body, "Проекты") {
		t.Error("the chosen language does not win over Accept-Language")
	}
}

// TestCatalogues: English and Russian have the same keys (each with the
// plural forms its language needs).
func TestCatalogues(t *testing.T) {
	cs, err := loadCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string][]string{"en": {"one", "other"}, "ru": {"one", "few", "many"}}
	families := map[string]map[string]bool{}
	for lang, c := range cs {
		families[lang] = map[string]bool{}
		for _, k := range c.Keys() {
			base, form := k, ""
			if i := strings.LastIndexByte(k, '.'); i > 0 && isPluralForm(k[i+1:]) {
				base, form = k[:i], k[i+1:]
			}
			families[lang][base] = true
			if form != "" {
				for _, f := range forms[lang] {
					if _, ok := c[base+"."+f]; !ok {
						t.Errorf("%s: %s lacks the plural form %s", lang, base, f)
					}
				}
			}
			if strings.TrimSpace(c[k]) == "" {
				t.Errorf("%s: %s is empty", lang, k)
			}
		}
	}
	for k := range families["en"] {
		if !families["ru"][k] {
			t.Errorf("ru lacks %s", k)
		}
	}
	for k := range families["ru"] {
		if !families["en"][k] {
			t.Errorf("en lacks %s", k)
		}
	}
}

func isPluralForm(s string) bool { return s == "one" || s == "few" || s == "many" || s == "other" }

// TestNoStringOutsideTheCatalogue renders every page with a catalogue whose
// every message is marked ⟦…⟧, and checks that no text a person reads
// (text, titles, labels, the scripts' messages) is left outside a mark but
// data: names, digests, numbers.
func TestNoStringOutsideTheCatalogue(t *testing.T) {
	real, err := loadCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	marked := map[string]Catalog{}
	for lang, c := range real {
		m := Catalog{}
		for k, v := range c {
			args := ""
			for i := range 4 {
				if strings.Contains(v, fmt.Sprintf("{%d}", i)) {
					args += fmt.Sprintf("|{%d}", i)
				}
			}
			m[k] = "⟦" + k + args + "⟧"
		}
		marked[lang] = m
	}
	w := newWorldWith(t, marked, func(c *Config) { c.ViewerLogs = true })
	data := []string{"shop", "blog", "web", "tool", "/srv/shop", "/srv/blog", "registry.test/shop/web:live", "acme/tool:dev", "distribution", "alice", "bob",
		"health gate failed: web is unhealthy", "shop/web", "shop-web-1", "20.10.24", "1.41", "compose project could not be loaded",
		"web: digest, 1 env", "environment.LOG_LEVEL", "environment.DB_PASSWORD", "info", "debug", "8443:443/tcp", "ports", "image", "registry.test/shop/web"}
	for _, d := range []string{"a", "b", "c", "d", "e"} {
		data = append(data, dg(d), shortDigest(dg(d)))
	}
	slices.SortFunc(data, func(a, b string) int { return len(b) - len(a) }) // longest first
	mark := regexp.MustCompile(`⟦[^⟦⟧]*⟧`)
	letters := regexp.MustCompile(`\pL{2,}`)
	pages := []string{"/", "/projects/shop", "/projects/shop/history", "/projects/shop/rollback/11", "/projects/shop/diff?from=11&to=12", "/system", "/fragments/top", "/projects/shop/logs?service=web", "/projects/nosuch", "/projects/shop?window=9y"}
	check := func(where, text string) {
		for i := 0; i < 3; i++ { // marks nest: a message inside a message
			text = mark.ReplaceAllString(text, " ")
		}
		for _, d := range data {
			text = strings.ReplaceAll(text, d, " ")
		}
		if l := letters.FindString(text); l != "" {
			t.Errorf("%s: %q is outside the catalogue (in %q)", where, l, strings.TrimSpace(text))
		}
	}
	for _, p := range pages {
		for _, lang := range Languages {
			rec := w.get(t, p, w.aCookie, lang)
			visibleText(t, rec.Body.String(), func(what, text string) { check(lang+" "+p+" "+what, text) })
		}
	}
	rec := w.get(t, "/signin", nil, "ru")
	visibleText(t, rec.Body.String(), func(what, text string) { check("signin "+what, text) })
}

// visibleText calls fn with every text node and every attribute a person
// reads (or a script shows): title, aria-label, alt, placeholder, value of
// buttons, data-msg-*, data-label-*, data-status-*, data-empty, data-error.
func visibleText(t *testing.T, page string, fn func(what, text string)) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(page))
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatal(z.Err())
			}
			return
		case html.TextToken:
			if skip == 0 {
				fn("text", string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if tok.Data == "script" || tok.Data == "style" || tok.Data == "code" {
				skip++
			}
			for _, a := range tok.Attr {
				if a.Key == "title" || a.Key == "aria-label" || a.Key == "alt" || a.Key == "placeholder" ||
					strings.HasPrefix(a.Key, "data-msg-") || strings.HasPrefix(a.Key, "data-label-") || strings.HasPrefix(a.Key, "data-status-") ||
					a.Key == "data-empty" || a.Key == "data-error" {
					fn(tok.Data+"@"+a.Key, a.Val)
				}
			}
		case html.EndTagToken:
			if tok := z.Token(); tok.Data == "script" || tok.Data == "style" || tok.Data == "code" {
				skip--
			}
		}
	}
}

// TestSecurityHeaders: no inline script allowed, no framing, no sniffing.
func TestSecurityHeaders(t *testing.T) {
	w := newWorld(t)
	for _, p := range []string{"/", "/signin", "/assets/app.js"} {
		h := w.get(t, p, w.vCookie, "").Header()
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
			t.Errorf("%s: headers %v", p, h)
		}
	}
	page := w.get(t, "/projects/shop", w.aCookie, "").Body.String()
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]|\son[a-z]+=|style="`).MatchString(page) {
		t.Error("the page carries inline script, an event handler attribute or an inline style")
	}
}

// TestAssetBudget: everything the page loads stays under 150 KB gzipped.
func TestAssetBudget(t *testing.T) {
	static, err := fs.Sub(assetFiles, "assets")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	_ = fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "LICENSE") {
			return err
		}
		b, _ := fs.ReadFile(static, p)
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		total += buf.Len()
		return nil
	})
	if total == 0 || total > 150<<10 {
		t.Errorf("assets are %d bytes gzipped, want at most 150 KB", total)
	}
	t.Logf("assets: %d bytes gzipped", total)
}

func TestPlurals(t *testing.T) {
	cs, _ := loadCatalogs()
	ru := newLocale("ru", cs["ru"], time.UTC)
	en := newLocale("en", cs["en"], time.UTC)
	now := t0
	for n, want := range map[int]string{1: "1 минуту назад", 2: "2 минуты назад", 5: "5 минут назад", 11: "11 минут назад", 21: "21 минуту назад", 22: "22 минуты назад"} {
		if got := ru.Ago(now.Add(-time.Duration(n)*time.Minute), now); got != want {
			t.Errorf("ru %d minutes: %q, want %q", n, got, want)
		}
	}
	if got := en.Ago(now.Add(-time.Minute), now); got != "1 minute ago" {
		t.Errorf("en 1 minute: %q", got)
	}
	if got := en.Bytes(1536 << 20); got != "1.5 GiB" {
		t.Errorf("en bytes: %q", got)
	}
}

var tlsState = tls.ConnectionState{}

// TestAnotherEnginesProjectKeepsItsEngine: with several engines, the
// projects page says each project's engine and links to its page with
// ?context=; that page asks the backend about that engine, and every link
// and request it makes (logs, windows, the script's fetches) carries it on.
func TestAnotherEnginesProjectKeepsItsEngine(t *testing.T) {
	w := newWorld(t)
	w.b.mu.Lock()
	for i := range w.b.projects {
		if w.b.projects[i].Name == "shop" {
			w.b.projects[i].Engine, w.b.projects[i].Stack = "edge", true
		}
	}
	w.b.mu.Unlock()
	list := w.get(t, "/", w.aCookie, "").Body.String()
	if !strings.Contains(list, `href="/projects/shop?context=edge"`) || !strings.Contains(list, "on edge") || !strings.Contains(list, "swarm stack") {
		t.Fatalf("the projects page does not link shop on its engine:\n%s", list)
	}
	rec := w.get(t, "/projects/shop?context=edge", w.aCookie, "")
	page := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /projects/shop?context=edge = %d\n%s", rec.Code, page)
	}
	for _, want := range []string{
		`data-context="edge"`,
		`<p class="meta engine">on edge · swarm stack</p>`,
		`/projects/shop/logs?service=web&amp;context=edge`,
		`href="?window=6h&amp;context=edge"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page of shop on edge lacks %s", want)
		}
	}
	if page := w.get(t, "/projects/shop", w.aCookie, "").Body.String(); strings.Contains(page, "data-context") || strings.Contains(page, "context=") {
		t.Error("a page that names no engine carries one")
	}
}
