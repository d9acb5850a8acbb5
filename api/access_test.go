package api_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/auth"
)

// tokenStore is an auth.TokenStore in memory.
type tokenStore struct {
	mu sync.Mutex
	m  map[string]forge.Token
}

func (s *tokenStore) Tokens() ([]forge.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []forge.Token
	for _, t := range s.m {
		out = append(out, t)
	}
	return out, nil
}

func (s *tokenStore) Token(name string) (forge.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.m[name]; ok {
		return t, nil
	}
	return forge.Token{}, errors.New("no token")
}

func (s *tokenStore) add(name string, role forge.Role) string {
	tok, hash := auth.NewToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[name] = forge.Token{Name: name, Role: role, Hash: hash}
	return tok
}

// apiRoutes is every route of the API, and whether it needs an admin.
var apiRoutes = []struct {
	method, target, body string
	admin                bool
}{
	{http.MethodGet, "/api/projects", "", false},
	{http.MethodGet, "/api/projects/shop", "", false},
	{http.MethodGet, "/api/projects/shop/history", "", false},
	{http.MethodPost, "/api/projects/shop/deploy", `{}`, true},
	{http.MethodPost, "/api/projects/shop/rollback", `{}`, true},
	{http.MethodGet, "/api/projects/shop/lock", "", false},
	{http.MethodGet, "/api/projects/shop/diff?from=1", "", false},
	{http.MethodPost, "/api/projects/shop/forget", `{}`, true},
	{http.MethodGet, "/api/projects/shop/logs?service=web", "", true},
	{http.MethodGet, "/api/projects/shop/stats", "", false},
	{http.MethodGet, "/api/stats", "", false},
	{http.MethodGet, "/api/system/stats", "", false},
	{http.MethodGet, "/api/system/stats/top", "", false},
	{http.MethodGet, "/api/tokens", "", true},
	{http.MethodPost, "/api/tokens", `{"name":"carol","role":"viewer"}`, true},
	{http.MethodDelete, "/api/tokens/carol", "", true},
}

// TestRoles drives every route with no token, a viewer's, an admin's, and a
// revoked one: reads are a viewer's, changes an admin's (403 for viewers),
// and nothing without a valid token reaches the backend.
func TestRoles(t *testing.T) {
	store := &tokenStore{m: map[string]forge.Token{}}
	viewer := store.add("alice", forge.RoleViewer)
	admin := store.add("bob", forge.RoleAdmin)
	revoked := store.add("eve", forge.RoleAdmin)
	store.mu.Lock()
	delete(store.m, "eve")
	store.mu.Unlock()
	// Wrong tokens are many here: a limit that lets them all be tried.
	az := auth.New(auth.Config{Tokens: store, AdminToken: "env-admin", Limiter: auth.NewLimiter(1000, time.Minute)})

	principals := []struct {
		name, token string
		want        func(adminOnly bool) int
	}{
		{"no token", "", func(bool) int { return http.StatusUnauthorized }},
		{"revoked", revoked, func(bool) int { return http.StatusUnauthorized }},
		{"malformed", "not-a-token", func(bool) int { return http.StatusUnauthorized }},
		{"viewer", viewer, func(a bool) int {
			if a {
				return http.StatusForbidden
			}
			return http.StatusOK
		}},
		{"admin", admin, func(bool) int { return http.StatusOK }},
		{"FORGE_API_TOKEN", "env-admin", func(bool) int { return http.StatusOK }},
	}
	for _, p := range principals {
		for _, rt := range apiRoutes {
			t.Run(p.name+"/"+rt.method+" "+rt.target, func(t *testing.T) {
				b := &fakeBackend{projects: []api.ProjectStatus{}, history: []forge.Deploy{}, tokenList: []forge.Token{},
					deploy: sampleDeploy(1, "shop", forge.StatusSucceeded), rollback: sampleDeploy(2, "shop", forge.StatusSucceeded)}
				var h http.Header
				if p.token != "" {
					h = http.Header{"Authorization": {"Bearer " + p.token}}
				}
				a := do(t, newRouter(b, az), rt.method, rt.target, rt.body, h)
				want := p.want(rt.admin)
				if a.status != want {
					t.Fatalf("status %d, want %d; body %s", a.status, want, a.body)
				}
				if reached := b.calls() > 0; reached != (want == http.StatusOK) {
					t.Errorf("backend reached: %v, want %v", reached, want == http.StatusOK)
				}
			})
		}
	}
}

// TestViewerCannotDeployByAnyRoute: whatever method or path a viewer tries,
// no deploy, rollback or token change reaches the backend.
func TestViewerCannotDeployByAnyRoute(t *testing.T) {
	store := &tokenStore{m: map[string]forge.Token{}}
	viewer := store.add("alice", forge.RoleViewer)
	az := auth.New(auth.Config{Tokens: store})
	b := &fakeBackend{projects: []api.ProjectStatus{}, history: []forge.Deploy{}}
	r := newRouter(b, az)
	h := http.Header{"Authorization": {"Bearer " + viewer}}
	for _, path := range []string{"/api/projects/shop/deploy", "/api/projects/shop/rollback", "/api/projects/-/deploy", "/api/tokens", "/api/tokens/alice"} {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if a := do(t, r, m, path, `{}`, h); a.status == http.StatusOK {
				t.Errorf("viewer %s %s answered 200: %s", m, path, a.body)
			}
		}
	}
	if len(b.deploys)+len(b.rollbacks)+len(b.tokenOps) != 0 {
		t.Errorf("a viewer reached the backend: deploys %v rollbacks %v tokens %v", b.deploys, b.rollbacks, b.tokenOps)
	}
}

// TestSessionWritesNeedCSRF: a browser session reads with its cookie alone;
// a deploy with the cookie but without the session's CSRF token is refused
// before the backend sees it.
func TestSessionWritesNeedCSRF(t *testing.T) {
	store := &tokenStore{m: map[string]forge.Token{}}
	admin := store.add("bob", forge.RoleAdmin)
	az := auth.New(auth.Config{Tokens: store})
	signin := newRequest(t, http.MethodPost, "/signin")
	sess, err := az.SignIn(signin, admin)
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{projects: []api.ProjectStatus{}, deploy: sampleDeploy(1, "shop", forge.StatusSucceeded)}
	r := newRouter(b, az)
	cookie := http.Header{"Cookie": {auth.CookieName + "=" + sess.ID}}
	if a := do(t, r, http.MethodGet, "/api/projects", "", cookie); a.status != http.StatusOK {
		t.Fatalf("a session's read: %d %s", a.status, a.body)
	}
	if a := do(t, r, http.MethodPost, "/api/projects/shop/deploy", `{}`, cookie); a.status != http.StatusForbidden || !strings.Contains(a.errorText(t), "CSRF") {
		t.Fatalf("a session's deploy without CSRF: %d %s, want 403", a.status, a.body)
	}
	if len(b.deploys) != 0 {
		t.Fatal("a CSRF-less deploy reached the backend")
	}
	withCSRF := cookie.Clone()
	withCSRF.Set(auth.CSRFHeader, sess.CSRF)
	if a := do(t, r, http.MethodPost, "/api/projects/shop/deploy", `{}`, withCSRF); a.status != http.StatusOK || len(b.deploys) != 1 {
		t.Fatalf("a session's deploy with its CSRF token: %d %s", a.status, a.body)
	}
}

// TestViewerAnswersCarryNoContainerID: top answers a viewer without the
// containers' IDs, an admin with them; logs are an admin's unless the daemon
// lets viewers read them.
func TestViewerAnswersCarryNoContainerID(t *testing.T) {
	store := &tokenStore{m: map[string]forge.Token{}}
	viewer := store.add("alice", forge.RoleViewer)
	admin := store.add("bob", forge.RoleAdmin)
	az := auth.New(auth.Config{Tokens: store})
	b := &fakeBackend{top: []forge.TopEntry{{Name: "shop/web", Container: "shop-web-1", ID: strings.Repeat("c0ffee", 10)}}, logs: "hello\n"}
	for _, tt := range []struct {
		token  string
		wantID bool
	}{{viewer, false}, {admin, true}} {
		a := do(t, newRouter(b, az), http.MethodGet, "/api/system/stats/top", "", http.Header{"Authorization": {"Bearer " + tt.token}})
		var top []forge.TopEntry
		if err := json.Unmarshal(a.body, &top); err != nil || len(top) != 1 {
			t.Fatalf("top: %d %s", a.status, a.body)
		}
		if (top[0].ID != "") != tt.wantID || strings.Contains(string(a.body), "c0ffee") != tt.wantID {
			t.Errorf("top for admin=%v: %s", tt.wantID, a.body)
		}
	}
	viewerH := http.Header{"Authorization": {"Bearer " + viewer}}
	a := do(t, newRouter(b, az, api.WithViewerLogs(true)), http.MethodGet, "/api/projects/shop/logs?service=web", "", viewerH)
	if a.status != http.StatusOK || string(a.body) != "hello\n" || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
		t.Errorf("logs for a viewer with --viewer-logs: %d %q", a.status, a.body)
	}
}

// TestTokenRoutes: creating, listing and revoking tokens through the API,
// and the answers for a bad name, a duplicate and an unknown token.
func TestTokenRoutes(t *testing.T) {
	led := openLedger(t)
	l := &api.Local{Ledger: led, Engine: &fakeLister{}}
	r := newRouter(l, nil)
	a := do(t, r, http.MethodPost, "/api/tokens", `{"name":"alice","role":"viewer"}`, nil)
	var made api.NewToken
	if err := json.Unmarshal(a.body, &made); err != nil || a.status != http.StatusOK || !auth.ValidShape(made.Secret) || made.Role != forge.RoleViewer {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	stored, err := led.Token("alice")
	if err != nil || stored.Hash != auth.Hash(made.Secret) || strings.Contains(stored.Hash, made.Secret) {
		t.Fatalf("stored %+v, %v: want the secret's hash only", stored, err)
	}
	list := do(t, r, http.MethodGet, "/api/tokens", "", nil)
	if list.status != http.StatusOK || !strings.Contains(string(list.body), `"alice"`) || strings.Contains(string(list.body), made.Secret) || strings.Contains(string(list.body), stored.Hash) {
		t.Errorf("list: %d %s; want alice without secret or hash", list.status, list.body)
	}
	for _, tt := range []struct {
		method, target, body string
		want                 int
	}{
		{http.MethodPost, "/api/tokens", `{"name":"alice","role":"viewer"}`, http.StatusConflict},
		{http.MethodPost, "/api/tokens", `{"name":"bad name!","role":"viewer"}`, http.StatusBadRequest},
		{http.MethodPost, "/api/tokens", `{"name":"carol","role":"root"}`, http.StatusBadRequest},
		{http.MethodDelete, "/api/tokens/nobody", "", http.StatusNotFound},
		{http.MethodDelete, "/api/tokens/alice", "", http.StatusOK},
		{http.MethodDelete, "/api/tokens/alice", "", http.StatusNotFound},
	} {
		if a := do(t, r, tt.method, tt.target, tt.body, nil); a.status != tt.want {
			t.Errorf("%s %s %s: %d %s, want %d", tt.method, tt.target, tt.body, a.status, a.body, tt.want)
		}
	}
}

func newRequest(t *testing.T, method, target string) *http.Request {
	t.Helper()
	r, err := http.NewRequestWithContext(t.Context(), method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.RemoteAddr = "127.0.0.1:1"
	return r
}

// TestDeploysRecordTheToken: a deploy over TCP records the token that asked,
// whatever user the body claims; on the socket, the CLI's user.
func TestDeploysRecordTheToken(t *testing.T) {
	store := &tokenStore{m: map[string]forge.Token{}}
	admin := store.add("ci-bot", forge.RoleAdmin)
	b := &fakeBackend{deploy: sampleDeploy(1, "shop", forge.StatusSucceeded), rollback: sampleDeploy(2, "shop", forge.StatusSucceeded)}
	h := http.Header{"Authorization": {"Bearer " + admin}}
	do(t, newRouter(b, auth.New(auth.Config{Tokens: store})), http.MethodPost, "/api/projects/shop/deploy", `{"user":"root"}`, h)
	do(t, newRouter(b, auth.New(auth.Config{Tokens: store})), http.MethodPost, "/api/projects/shop/rollback", `{"user":"root"}`, h)
	do(t, newRouter(b, nil), http.MethodPost, "/api/projects/shop/deploy", `{"user":"alice"}`, nil)
	if len(b.deploys) != 2 || b.deploys[0].User != "ci-bot" || b.deploys[1].User != "alice" || len(b.rollbacks) != 1 || b.rollbacks[0].User != "ci-bot" {
		t.Errorf("recorded users: deploys %+v, rollbacks %+v; want ci-bot over TCP, alice on the socket", b.deploys, b.rollbacks)
	}
}
