package webhook

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/docker-forge/docker-forge"
)

// memoryGuard is a ReplayGuard in memory that records what it was asked.
type memoryGuard struct {
	mu       sync.Mutex
	seen     map[string]time.Time
	released []string
	err      error
}

func (g *memoryGuard) Claim(keys []string, now time.Time, window time.Duration) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return false, g.err
	}
	for _, key := range keys {
		if at, ok := g.seen[key]; ok && now.Sub(at) < window {
			return false, nil
		}
	}
	if g.seen == nil {
		g.seen = map[string]time.Time{}
	}
	for _, key := range keys {
		g.seen[key] = now
	}
	return true, nil
}

func (g *memoryGuard) Release(keys []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, key := range keys {
		delete(g.seen, key)
		g.released = append(g.released, key)
	}
	return nil
}

// serveWith builds a Server from cfg, lets adjust change its providers, and
// serves it.
func serveWith(t *testing.T, cfg Config, adjust func(*Server)) string {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if adjust != nil {
		adjust(s)
	}
	r := mux.NewRouter()
	s.Register(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL
}

func postHook(t *testing.T, url, body string, header map[string]string) (int, hookAnswer) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a hookAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("answer is not JSON: %s", b)
	}
	return resp.StatusCode, a
}

func TestReplayedDeliveryIsRefusedAndDispatchesNothing(t *testing.T) {
	const secret = "replay-secret"
	disp := &fakeDispatcher{queued: []forge.QueuedDeploy{{ID: 7, Project: "shop", Services: []string{"web"}, Status: forge.StatusQueued}}}
	guard := &memoryGuard{}
	url := serveWith(t, Config{Secret: secret, Dispatcher: disp, Replay: guard}, nil) + "/hooks/generic"
	body := `{"image":"127.0.0.1:5000/shop/web","tag":"v2","digest":"sha256:` + strings.Repeat("cd", 32) + `"}`
	sig := map[string]string{"X-Forge-Signature-256": "sha256=" + hex.EncodeToString(Sign([]byte(body), secret))}

	if code, a := postHook(t, url, body, sig); code != http.StatusAccepted || len(a.Deploys) != 1 {
		t.Fatalf("first delivery: %d %+v", code, a)
	}
	code, a := postHook(t, url, body, sig)
	if code != http.StatusOK || a.Ignored != "duplicate delivery" || len(a.Events) != 0 {
		t.Fatalf("replay: %d %+v, want 200 duplicate delivery", code, a)
	}
	if n := len(disp.submitted()); n != 1 {
		t.Fatalf("the dispatcher saw %d submissions, want 1", n)
	}
	// The delivery header is not signed: a captured request resent under a
	// new delivery id is still the same signed body, and still refused.
	sig["X-Forge-Delivery"] = "ci-run-41"
	if code, a := postHook(t, url, body, sig); code != http.StatusOK || a.Ignored != "duplicate delivery" {
		t.Fatalf("the same signed body under a new delivery id: %d %+v, want refused", code, a)
	}
	// Another push (another body) under that id is accepted once.
	other := strings.Replace(body, `"v2"`, `"v3"`, 1)
	sig["X-Forge-Signature-256"] = "sha256=" + hex.EncodeToString(Sign([]byte(other), secret))
	if code, _ := postHook(t, url, other, sig); code != http.StatusAccepted {
		t.Fatalf("a new push was refused: %d", code)
	}
	if code, a := postHook(t, url, other, sig); code != http.StatusOK || a.Ignored != "duplicate delivery" {
		t.Fatalf("the same delivery again: %d %+v", code, a)
	}
	if n := len(disp.submitted()); n != 2 {
		t.Fatalf("the dispatcher saw %d submissions, want 2", n)
	}
}

func TestGenericPushWithoutDigestOrIDIsNeverADuplicate(t *testing.T) {
	const secret = "replay-secret"
	disp := &fakeDispatcher{queued: []forge.QueuedDeploy{{ID: 1, Project: "shop", Status: forge.StatusQueued}}}
	url := serveWith(t, Config{Secret: secret, Dispatcher: disp, Replay: &memoryGuard{}}, nil) + "/hooks/generic"
	body := `{"image":"127.0.0.1:5000/shop/web","tag":"latest"}` // "the tag moved", sent each time it does
	sig := map[string]string{"X-Forge-Signature-256": "sha256=" + hex.EncodeToString(Sign([]byte(body), secret))}
	for i := range 3 {
		if code, _ := postHook(t, url, body, sig); code != http.StatusAccepted {
			t.Fatalf("send %d: status %d", i, code)
		}
	}
}

func TestDeliveryThatCouldNotBeQueuedIsReleased(t *testing.T) {
	const secret = "replay-secret"
	disp := &fakeDispatcher{err: errors.New("engine down")}
	guard := &memoryGuard{}
	url := serveWith(t, Config{Secret: secret, Dispatcher: disp, Replay: guard}, nil) + "/hooks/generic"
	body := `{"image":"127.0.0.1:5000/shop/web","tag":"v2","digest":"sha256:` + strings.Repeat("cd", 32) + `"}`
	sig := map[string]string{"X-Forge-Signature-256": "sha256=" + hex.EncodeToString(Sign([]byte(body), secret))}
	for range 2 {
		if code, _ := postHook(t, url, body, sig); code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503 each time (the retry must not be refused as a duplicate)", code)
		}
	}
	if len(guard.released) != 2 {
		t.Fatalf("released %v, want the key released after each failed submit", guard.released)
	}
	guard.err = errors.New("ledger gone")
	if code, _ := postHook(t, url, body, sig); code != http.StatusServiceUnavailable {
		t.Fatalf("a failing replay guard answered %d, want 503", code)
	}
}

func TestUntrustedProviderDigestIsDropped(t *testing.T) {
	const secret = "query-secret"
	disp := &fakeDispatcher{queued: []forge.QueuedDeploy{{ID: 1, Project: "shop", Status: forge.StatusQueued}}}
	url := serveWith(t, Config{Secret: secret, Dispatcher: disp}, func(s *Server) {
		s.providers["unsigned"] = provider{auth: queryTokenAuth, untrusted: true, parse: func(http.Header, []byte) ([]forge.Event, string, error) {
			return []forge.Event{{Kind: forge.KindImage, Provider: "unsigned", Repository: "docker.io/acme/web", Tag: "1", Digest: "sha256:" + strings.Repeat("ee", 32)}}, "", nil
		}}
	})
	code, a := postHook(t, url+"/hooks/unsigned?token="+secret, `{}`, nil)
	if code != http.StatusAccepted {
		t.Fatalf("status %d", code)
	}
	got := disp.submitted()[0][0]
	if got.Digest != "" || a.Events[0].Digest != "" {
		t.Fatalf("an unsigned payload's digest reached the dispatcher: %+v", got)
	}
	if got.Delivery == "" {
		t.Fatal("no delivery id was given to an event whose provider has none")
	}
	if code, _ := postHook(t, url+"/hooks/unsigned?token=wrong", `{}`, nil); code != http.StatusUnauthorized {
		t.Fatalf("wrong ?token= answered %d", code)
	}
	if code, _ := postHook(t, url+"/hooks/unsigned", `{}`, map[string]string{"Authorization": "Bearer " + secret}); code != http.StatusAccepted {
		t.Fatalf("bearer instead of ?token= answered %d", code)
	}
}

func TestSecretPerProvider(t *testing.T) {
	disp := &fakeDispatcher{queued: []forge.QueuedDeploy{{ID: 1, Project: "shop", Status: forge.StatusQueued}}}
	url := serveWith(t, Config{Secret: "default-secret", Secrets: map[string]string{"generic": "generic-secret"}, Dispatcher: disp}, nil)
	body := `{"image":"127.0.0.1:5000/shop/web","tag":"v2"}`
	signedWith := func(secret string) map[string]string {
		return map[string]string{"X-Forge-Signature-256": "sha256=" + hex.EncodeToString(Sign([]byte(body), secret))}
	}
	if code, _ := postHook(t, url+"/hooks/generic", body, signedWith("default-secret")); code != http.StatusUnauthorized {
		t.Fatalf("the default secret was accepted for a provider with its own: %d", code)
	}
	if code, _ := postHook(t, url+"/hooks/generic", body, signedWith("generic-secret")); code != http.StatusAccepted {
		t.Fatalf("the provider's own secret was refused: %d", code)
	}
	dist := `{"events":[]}`
	if code, _ := postHook(t, url+"/hooks/distribution", dist, map[string]string{"Authorization": "Bearer default-secret"}); code != http.StatusOK {
		t.Fatalf("the default secret was refused for a provider without its own: %d", code)
	}
	if _, err := New(Config{Secrets: map[string]string{"gitbucket": "x"}, Secret: "y", Dispatcher: disp}); err == nil {
		t.Fatal("a secret for an unknown provider was accepted")
	}
}

// blockingDispatcher holds every Submit until released.
type blockingDispatcher struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingDispatcher) Submit(ctx context.Context, events []forge.Event) ([]forge.QueuedDeploy, string, error) {
	b.entered <- struct{}{}
	<-b.release
	return []forge.QueuedDeploy{{ID: 1, Project: "shop", Status: forge.StatusQueued}}, "", nil
}

// TestBackpressure: past MaxInFlight deliveries being queued, the next is
// answered 503 with Retry-After at once, never held or dropped in silence.
func TestBackpressure(t *testing.T) {
	const secret = "bp-secret"
	disp := &blockingDispatcher{entered: make(chan struct{}, 1), release: make(chan struct{})}
	url := serveWith(t, Config{Secret: secret, Dispatcher: disp, MaxInFlight: 1}, nil) + "/hooks/generic"
	body := `{"image":"127.0.0.1:5000/shop/web","tag":"v2"}`
	sig := map[string]string{"X-Forge-Signature-256": "sha256=" + hex.EncodeToString(Sign([]byte(body), secret))}
	done := make(chan int)
	go func() {
		code, _ := postHook(t, url, body, sig)
		done <- code
	}()
	<-disp.entered
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	for k, v := range sig {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a delivery past the limit got %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	close(disp.release)
	if code := <-done; code != http.StatusAccepted {
		t.Fatalf("the held delivery got %d, want 202", code)
	}
}

// TestOwnCredentialDecides: a request that carries its provider's own
// credential is judged by it alone; a right bearer token does not rescue a
// wrong ?token= or a wrong GitLab token, but stands in when none is sent.
func TestOwnCredentialDecides(t *testing.T) {
	const secret = "own-secret"
	tests := []struct {
		name   string
		auth   authFunc
		target string
		header map[string]string
		want   error
	}{
		{"wrong query token, right bearer", queryTokenAuth, "/?token=wrong", map[string]string{"Authorization": "Bearer " + secret}, errBadAuth},
		{"no query token, right bearer", queryTokenAuth, "/", map[string]string{"Authorization": "Bearer " + secret}, nil},
		{"wrong gitlab token, right bearer", headerTokenAuth("X-Gitlab-Token"), "/", map[string]string{"X-Gitlab-Token": "nope", "Authorization": "Bearer " + secret}, errBadAuth},
		{"bare Authorization token", tokenAuth, "/", map[string]string{"Authorization": secret}, nil},
		{"bearer Authorization token", tokenAuth, "/", map[string]string{"Authorization": "bearer " + secret}, nil},
		{"wrong bearer Authorization token", tokenAuth, "/", map[string]string{"Authorization": "Bearer nope"}, errBadAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tt.target, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if err := tt.auth(r, nil, secret); !errors.Is(err, tt.want) {
				t.Fatalf("auth = %v, want %v", err, tt.want)
			}
		})
	}
}
