package auth

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/expose"
)

// memTokens is a TokenStore in a map.
type memTokens struct {
	mu sync.Mutex
	m  map[string]forge.Token
}

func (s *memTokens) Tokens() ([]forge.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []forge.Token
	for _, t := range s.m {
		out = append(out, t)
	}
	return out, nil
}

func (s *memTokens) Token(name string) (forge.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[name]
	if !ok {
		return t, errors.New("no token")
	}
	return t, nil
}

func (s *memTokens) add(name string, role forge.Role) string {
	tok, hash := NewToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[name] = forge.Token{Name: name, Role: role, Hash: hash}
	return tok
}

func (s *memTokens) revoke(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, name)
}

func request(method, bearer string, cookie *http.Cookie, csrf string) *http.Request {
	r := httptest.NewRequest(method, "/api/projects", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	if cookie != nil {
		r.AddCookie(cookie)
	}
	if csrf != "" {
		r.Header.Set(CSRFHeader, csrf)
	}
	return r
}

func TestResolve(t *testing.T) {
	store := &memTokens{m: map[string]forge.Token{}}
	viewer := store.add("alice", forge.RoleViewer)
	admin := store.add("bob", forge.RoleAdmin)
	var logs bytes.Buffer
	a := New(Config{Tokens: store, AdminToken: "env-admin-token", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	sess, err := a.SignIn(request(http.MethodPost, "", nil, ""), viewer)
	if err != nil {
		t.Fatal(err)
	}
	cookie := &http.Cookie{Name: CookieName, Value: sess.ID}
	_, wrongShape := NewToken()
	tests := []struct {
		name     string
		r        *http.Request
		wantName string
		wantRole forge.Role
		wantErr  error
	}{
		{"viewer token", request(http.MethodGet, viewer, nil, ""), "alice", forge.RoleViewer, nil},
		{"admin token", request(http.MethodPost, admin, nil, ""), "bob", forge.RoleAdmin, nil},
		{"FORGE_API_TOKEN", request(http.MethodPost, "env-admin-token", nil, ""), adminTokenName, forge.RoleAdmin, nil},
		{"no credentials", request(http.MethodGet, "", nil, ""), "", "", ErrNoCredentials},
		{"unknown token", request(http.MethodGet, "forge_"+strings.Repeat("A", 43), nil, ""), "", "", ErrBadToken},
		{"token of the wrong shape", request(http.MethodGet, wrongShape, nil, ""), "", "", ErrBadToken},
		{"not a bearer", func() *http.Request {
			r := request(http.MethodGet, "", nil, "")
			r.Header.Set("Authorization", "Basic Zm9vOmJhcg==")
			return r
		}(), "", "", ErrBadToken},
		{"session read", request(http.MethodGet, "", cookie, ""), "alice", forge.RoleViewer, nil},
		{"session write without CSRF", request(http.MethodPost, "", cookie, ""), "", "", ErrCSRF},
		{"session write with a wrong CSRF", request(http.MethodPost, "", cookie, "nope"), "", "", ErrCSRF},
		{"session write with its CSRF", request(http.MethodPost, "", cookie, sess.CSRF), "alice", forge.RoleViewer, nil},
		{"unknown session", request(http.MethodGet, "", &http.Cookie{Name: CookieName, Value: "forged"}, ""), "", "", ErrNoCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Resolve(tt.r)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Resolve error %v, want %v", err, tt.wantErr)
			}
			if p.Name != tt.wantName || p.Role != tt.wantRole {
				t.Errorf("principal %+v, want %s %s", p, tt.wantName, tt.wantRole)
			}
		})
	}
	for _, secret := range []string{viewer, admin, wrongShape, "env-admin-token", sess.ID, sess.CSRF} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds a secret:\n%s", logs.String())
		}
	}

	// Revoking the token ends the session it opened.
	store.revoke("alice")
	if _, err := a.Resolve(request(http.MethodGet, "", cookie, "")); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("a session of a revoked token: %v, want ErrNoCredentials", err)
	}
}

func TestWrongTokensAreRateLimited(t *testing.T) {
	store := &memTokens{m: map[string]forge.Token{}}
	good := store.add("alice", forge.RoleAdmin)
	a := New(Config{Tokens: store, Limiter: NewLimiter(3, time.Minute)})
	for i := range 3 {
		if _, err := a.Resolve(request(http.MethodGet, "wrong", nil, "")); !errors.Is(err, ErrBadToken) {
			t.Fatalf("wrong token %d: %v", i, err)
		}
	}
	if _, err := a.Resolve(request(http.MethodGet, good, nil, "")); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("the right token after 3 wrong ones from the same address: %v, want ErrRateLimited", err)
	}
	other := request(http.MethodGet, good, nil, "")
	other.RemoteAddr = "198.51.100.1:1"
	if _, err := a.Resolve(other); err != nil {
		t.Fatalf("another address is limited too: %v", err)
	}
	a.cfg.Limiter.now = func() time.Time { return time.Now().Add(time.Minute) }
	if _, err := a.Resolve(request(http.MethodGet, good, nil, "")); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestRateLimitBehindATrustedProxy: clients behind one trusted proxy are
// limited each by the address the proxy names, so one client's wrong
// tokens lock out no one else.
func TestRateLimitBehindATrustedProxy(t *testing.T) {
	store := &memTokens{m: map[string]forge.Token{}}
	good := store.add("alice", forge.RoleAdmin)
	a := New(Config{Tokens: store, Limiter: NewLimiter(3, time.Minute)})
	proxy, _ := expose.ParsePrefixes("trust-proxy", []string{"127.0.0.1"})
	resolve := func(client, bearer string) error {
		r := request(http.MethodGet, bearer, nil, "")
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("X-Forwarded-For", client)
		var err error
		expose.Middleware(proxy, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { _, err = a.Resolve(r) })).
			ServeHTTP(httptest.NewRecorder(), r)
		return err
	}
	for range 3 {
		if err := resolve("203.0.113.66", "wrong"); !errors.Is(err, ErrBadToken) {
			t.Fatal(err)
		}
	}
	if err := resolve("203.0.113.66", good); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("the guessing client: %v, want ErrRateLimited", err)
	}
	if err := resolve("198.51.100.20", good); err != nil {
		t.Fatalf("another client behind the same proxy is locked out: %v", err)
	}
}

func TestSessionsExpire(t *testing.T) {
	s := NewSessions(time.Hour)
	now := time.Now()
	s.now = func() time.Time { return now }
	sess := s.Create(Principal{Name: "alice", Role: forge.RoleViewer})
	if got, ok := s.Get(sess.ID); !ok || got.Principal.CSRF != sess.CSRF || got.Principal.Session != sess.ID {
		t.Fatalf("Get = %+v, %v", got, ok)
	}
	now = now.Add(time.Hour)
	if _, ok := s.Get(sess.ID); ok {
		t.Fatal("a session past its TTL is still live")
	}
}

func TestTokenShape(t *testing.T) {
	tok, hash := NewToken()
	other, _ := NewToken()
	if !ValidShape(tok) || tok == other || Hash(tok) != hash || len(hash) != 64 || strings.Contains(hash, tok) {
		t.Fatalf("token %q hash %q", tok, hash)
	}
	for _, bad := range []string{"", "forge_", tok[:len(tok)-1], "x" + tok[1:], tok + "A", "forge_" + strings.Repeat("!", 43)} {
		if ValidShape(bad) {
			t.Errorf("ValidShape(%q) = true", bad)
		}
	}
}
