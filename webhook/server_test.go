package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/docker-forge/docker-forge"
)

// fakeDispatcher records the events it is handed and answers with whatever
// the test configured.
type fakeDispatcher struct {
	queued  []forge.QueuedDeploy
	ignored string
	err     error

	mu    sync.Mutex
	calls [][]forge.Event
}

func (f *fakeDispatcher) Submit(ctx context.Context, events []forge.Event) ([]forge.QueuedDeploy, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return nil, "", fmt.Errorf("fake dispatcher: unusable context %v", ctx)
	}
	f.calls = append(f.calls, slices.Clone(events))
	return f.queued, f.ignored, f.err
}

// submitted returns the event batches the dispatcher got, in order.
func (f *fakeDispatcher) submitted() [][]forge.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// startServer serves a Server built from cfg on a test HTTP server and
// returns its base URL.
func startServer(t *testing.T, cfg Config) string {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r := mux.NewRouter()
	s.Register(r)
	ts := httptest.NewServer(r)
	t.Cleanup(ts.Close)
	return ts.URL
}

// reply is an HTTP answer read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// hookAnswer is the JSON body of every /hooks answer, success or error.
type hookAnswer struct {
	Events  []forge.Event        `json:"events"`
	Deploys []forge.QueuedDeploy `json:"deploys"`
	Ignored string               `json:"ignored"`
	Error   string               `json:"error"`
}

func send(t *testing.T, method, url string, body []byte, headers map[string]string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func (r reply) answer(t *testing.T) hookAnswer {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var a hookAnswer
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("answer %q is not a hook answer: %v", r.body, err)
	}
	return a
}

func readTestdata(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const webDigest = "sha256:b397d3253dc90a42b5e390ad4886a9c846fc876e3bccff1f0af085da47f33c43"

func TestHook(t *testing.T) {
	genericBody := []byte(`{"image": "127.0.0.1:5000/shop/web", "tag": "v2", "digest": "` + webDigest + `"}`)
	genericEvent := forge.Event{
		Kind: forge.KindImage, Provider: "generic", Repository: "127.0.0.1:5000/shop/web",
		Tag: "v2", Digest: webDigest, Delivery: "ci-run-42",
	}
	distPush := readTestdata(t, "distribution/registry-2.8-push-tag-with-blobs-and-pull.json")
	distEvent := forge.Event{
		Kind: forge.KindImage, Provider: "distribution", Repository: "127.0.0.1:5000/shop/web",
		Tag: "v2", Digest: webDigest, Delivery: "1137b07a-b6c1-4cad-9854-a20568387815",
	}
	queued := []forge.QueuedDeploy{{ID: 7, Project: "shop", Services: []string{"web", "worker"}, Status: forge.StatusQueued}}
	signed := func(body []byte) map[string]string {
		return map[string]string{sigHeader: signature(body, testSecret), "X-Forge-Delivery": "ci-run-42"}
	}
	malformed := []byte(`{"image": "127.0.0.1:5000/shop/web", "tag": `)
	unknownField := []byte(`{"image": "127.0.0.1:5000/shop/web", "branch": "main"}`)
	oversized := []byte(`{"image": "127.0.0.1:5000/shop/web", "tag": "v2", "digest": "` + webDigest + `", "pad": "` + strings.Repeat("x", 64) + `"}`)

	tests := []struct {
		name     string
		maxBody  int64
		dispatch *fakeDispatcher
		path     string
		body     []byte
		headers  map[string]string

		wantStatus  int
		wantEvents  []forge.Event // compared when wantStatus < 300
		wantDeploys []forge.QueuedDeploy
		wantIgnored string
		wantError   string // substring of the "error" field when wantStatus >= 400
		wantCalls   [][]forge.Event
	}{
		{
			name:        "signed generic push queues a deploy",
			dispatch:    &fakeDispatcher{queued: queued},
			path:        "/hooks/generic",
			body:        genericBody,
			headers:     signed(genericBody),
			wantStatus:  http.StatusAccepted,
			wantEvents:  []forge.Event{genericEvent},
			wantDeploys: queued,
			wantCalls:   [][]forge.Event{{genericEvent}},
		},
		{
			name:        "generic push with a bearer token",
			dispatch:    &fakeDispatcher{queued: queued},
			path:        "/hooks/generic",
			body:        genericBody,
			headers:     map[string]string{"Authorization": "Bearer " + testSecret, "X-Forge-Delivery": "ci-run-42"},
			wantStatus:  http.StatusAccepted,
			wantEvents:  []forge.Event{genericEvent},
			wantDeploys: queued,
			wantCalls:   [][]forge.Event{{genericEvent}},
		},
		{
			name:        "distribution push with the configured token",
			dispatch:    &fakeDispatcher{queued: queued},
			path:        "/hooks/distribution",
			body:        distPush,
			headers:     map[string]string{"Authorization": "Bearer " + testSecret, "Content-Type": "application/vnd.docker.distribution.events.v1+json"},
			wantStatus:  http.StatusAccepted,
			wantEvents:  []forge.Event{distEvent},
			wantDeploys: queued,
			wantCalls:   [][]forge.Event{{distEvent}},
		},
		{
			name:        "distribution pulls and blob pushes are ignored",
			dispatch:    &fakeDispatcher{queued: queued},
			path:        "/hooks/distribution",
			body:        readTestdata(t, "distribution/pulls-and-blob-pushes.json"),
			headers:     map[string]string{"Authorization": "Bearer " + testSecret},
			wantStatus:  http.StatusOK,
			wantEvents:  []forge.Event{},
			wantIgnored: "no manifest push: 1 pull, 2 blob push",
		},
		{
			name:        "dispatcher queues nothing",
			dispatch:    &fakeDispatcher{ignored: "no enabled service runs 127.0.0.1:5000/shop/web:v2"},
			path:        "/hooks/generic",
			body:        genericBody,
			headers:     signed(genericBody),
			wantStatus:  http.StatusOK,
			wantEvents:  []forge.Event{genericEvent},
			wantIgnored: "no enabled service runs 127.0.0.1:5000/shop/web:v2",
			wantCalls:   [][]forge.Event{{genericEvent}},
		},
		{
			name:       "missing signature",
			dispatch:   &fakeDispatcher{queued: queued},
			path:       "/hooks/generic",
			body:       genericBody,
			wantStatus: http.StatusUnauthorized,
			wantError:  "missing authentication",
		},
		{
			name:       "signature made with another secret",
			dispatch:   &fakeDispatcher{queued: queued},
			path:       "/hooks/generic",
			body:       genericBody,
			headers:    map[string]string{sigHeader: signature(genericBody, "another-secret")},
			wantStatus: http.StatusUnauthorized,
			wantError:  "signature does not match the body",
		},
		{
			name:       "distribution with a wrong token",
			dispatch:   &fakeDispatcher{queued: queued},
			path:       "/hooks/distribution",
			body:       distPush,
			headers:    map[string]string{"Authorization": "Bearer another-secret"},
			wantStatus: http.StatusUnauthorized,
			wantError:  "bad authentication",
		},
		{
			name:       "distribution without a token",
			dispatch:   &fakeDispatcher{queued: queued},
			path:       "/hooks/distribution",
			body:       distPush,
			wantStatus: http.StatusUnauthorized,
			wantError:  "missing authentication",
		},
		{
			name:       "auth is checked before the body is parsed",
			dispatch:   &fakeDispatcher{queued: queued},
			path:       "/hooks/generic",
			body:       malformed,
			wantStatus: http.StatusUnauthorized,
			wantError:  "missing authentication",
		},
		{
			name:       "malformed JSON",
			dispatch:   &fakeDispatcher{queued: queued},
			path:       "/hooks/generic",
			body:       malformed,
			headers:    signed(malformed),
			wantStatus: http.StatusBadRequest,
			wantError:  "malformed generic payload",
		},
		{
			name:       "unknown field",
			dispatch:   &fakeDispatcher{queued: queued},
			path:       "/hooks/generic",
			body:       unknownField,
			headers:    signed(unknownField),
			wantStatus: http.StatusBadRequest,
			wantError:  `unknown field "branch"`,
		},
		{
			name:       "distribution envelope without events",
			dispatch:   &fakeDispatcher{queued: queued},
			path:       "/hooks/distribution",
			body:       readTestdata(t, "distribution/distribution-docs__delete-target-fragment.json"),
			headers:    map[string]string{"Authorization": testSecret},
			wantStatus: http.StatusBadRequest,
			wantError:  "malformed distribution payload",
		},
		{
			name:       "body over the limit",
			maxBody:    int64(len(genericBody)),
			dispatch:   &fakeDispatcher{queued: queued},
			path:       "/hooks/generic",
			body:       oversized,
			headers:    signed(oversized),
			wantStatus: http.StatusRequestEntityTooLarge,
			wantError:  fmt.Sprintf("body over the limit of %d bytes", len(genericBody)),
		},
		{
			name:        "body exactly at the limit",
			maxBody:     int64(len(genericBody)),
			dispatch:    &fakeDispatcher{queued: queued},
			path:        "/hooks/generic",
			body:        genericBody,
			headers:     signed(genericBody),
			wantStatus:  http.StatusAccepted,
			wantEvents:  []forge.Event{genericEvent},
			wantDeploys: queued,
			wantCalls:   [][]forge.Event{{genericEvent}},
		},
		{
			name:       "unknown provider",
			dispatch:   &fakeDispatcher{queued: queued},
			path:       "/hooks/gitbucket",
			body:       genericBody,
			headers:    signed(genericBody),
			wantStatus: http.StatusNotFound,
			wantError:  `unknown provider "gitbucket" (supported: acr, bitbucket, distribution, dockerhub, forgejo, generic, ghcr, gitea, github, gitlab, gogs, harbor, quay)`,
		},
		{
			name:       "dispatcher fails",
			dispatch:   &fakeDispatcher{err: errors.New("list containers: dial unix /var/run/docker.sock: connect: permission denied")},
			path:       "/hooks/generic",
			body:       genericBody,
			headers:    signed(genericBody),
			wantStatus: http.StatusServiceUnavailable,
			wantError:  "events not queued",
			wantCalls:  [][]forge.Event{{genericEvent}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.dispatch
			url := startServer(t, Config{Secret: testSecret, MaxBody: tt.maxBody, Dispatcher: d})
			r := send(t, http.MethodPost, url+tt.path, tt.body, tt.headers)

			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.wantStatus, r.body)
			}
			a := r.answer(t)
			if tt.wantStatus >= 400 {
				if !strings.Contains(a.Error, tt.wantError) {
					t.Errorf("error = %q, want it to contain %q", a.Error, tt.wantError)
				}
				if a.Events != nil || a.Deploys != nil || a.Ignored != "" {
					t.Errorf("error answer carries more than the error: %s", r.body)
				}
			} else {
				if a.Error != "" {
					t.Errorf("success answer carries error %q", a.Error)
				}
				if a.Events == nil {
					t.Errorf(`answer has no "events" array: %s`, r.body)
				}
				if !reflect.DeepEqual(a.Events, tt.wantEvents) {
					t.Errorf("events = %+v, want %+v", a.Events, tt.wantEvents)
				}
				if !reflect.DeepEqual(a.Deploys, tt.wantDeploys) {
					t.Errorf("deploys = %+v, want %+v", a.Deploys, tt.wantDeploys)
				}
				if a.Ignored != tt.wantIgnored {
					t.Errorf("ignored = %q, want %q", a.Ignored, tt.wantIgnored)
				}
			}
			wantRetry := ""
			if tt.wantStatus == http.StatusServiceUnavailable {
				wantRetry = "5"
			}
			if got := r.header.Get("Retry-After"); got != wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, wantRetry)
			}
			if got := d.submitted(); !reflect.DeepEqual(got, tt.wantCalls) {
				t.Errorf("dispatcher got %+v, want %+v", got, tt.wantCalls)
			}
		})
	}
}

// TestHookDispatcherErrorStaysPrivate checks that a 503 does not show the
// dispatcher's error to the caller.
func TestHookDispatcherErrorStaysPrivate(t *testing.T) {
	d := &fakeDispatcher{err: errors.New("load /srv/shop/compose.yaml: permission denied")}
	url := startServer(t, Config{Secret: testSecret, Dispatcher: d})
	body := []byte(`{"image": "127.0.0.1:5000/shop/web"}`)
	r := send(t, http.MethodPost, url+"/hooks/generic", body, map[string]string{sigHeader: signature(body, testSecret)})
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", r.status)
	}
	if bytes.Contains(r.body, []byte("/srv/shop")) || bytes.Contains(r.body, []byte("permission denied")) {
		t.Errorf("503 answer shows the dispatcher's error: %s", r.body)
	}
}

func TestHealthz(t *testing.T) {
	d := &fakeDispatcher{}
	url := startServer(t, Config{Secret: testSecret, Dispatcher: d})
	tests := []struct {
		name     string
		method   string
		wantBody string
	}{
		{"get", http.MethodGet, `{"status":"ok"}`},
		{"head", http.MethodHead, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := send(t, tt.method, url+"/healthz", nil, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200", r.status)
			}
			var compact bytes.Buffer
			if len(r.body) > 0 {
				if err := json.Compact(&compact, r.body); err != nil {
					t.Fatalf("body %q: %v", r.body, err)
				}
			}
			if compact.String() != tt.wantBody {
				t.Errorf("body = %s, want %s", compact.String(), tt.wantBody)
			}
		})
	}
	if calls := d.submitted(); len(calls) != 0 {
		t.Errorf("healthz reached the dispatcher: %v", calls)
	}
}

// TestHookOnlyAcceptsPost checks that the hook route answers POST only.
func TestHookOnlyAcceptsPost(t *testing.T) {
	d := &fakeDispatcher{}
	url := startServer(t, Config{Secret: testSecret, Dispatcher: d})
	r := send(t, http.MethodGet, url+"/hooks/generic", nil, map[string]string{"Authorization": "Bearer " + testSecret})
	if r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /hooks/generic = %d, want 405", r.status)
	}
	if calls := d.submitted(); len(calls) != 0 {
		t.Errorf("GET reached the dispatcher: %v", calls)
	}
}

func TestNew(t *testing.T) {
	d := &fakeDispatcher{}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		wantMax int64
	}{
		{"secret", Config{Secret: testSecret, Dispatcher: d}, "", DefaultMaxBody},
		{"empty secret refused", Config{Dispatcher: d}, "no secret configured", 0},
		{"empty secret with AllowUnauthenticated", Config{AllowUnauthenticated: true, Dispatcher: d}, "", DefaultMaxBody},
		{"no dispatcher", Config{Secret: testSecret}, "no dispatcher", 0},
		{"negative MaxBody means the default", Config{Secret: testSecret, Dispatcher: d, MaxBody: -1}, "", DefaultMaxBody},
		{"MaxBody kept", Config{Secret: testSecret, Dispatcher: d, MaxBody: 4096}, "", 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New = %v, want error containing %q", err, tt.wantErr)
				}
				if s != nil {
					t.Error("New returned a server with its error")
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if s.cfg.MaxBody != tt.wantMax {
				t.Errorf("MaxBody = %d, want %d", s.cfg.MaxBody, tt.wantMax)
			}
			if got, want := s.Providers(), []string{"acr", "bitbucket", "distribution", "dockerhub", "forgejo", "generic", "ghcr", "gitea", "github", "gitlab", "gogs", "harbor", "quay"}; !slices.Equal(got, want) {
				t.Errorf("Providers = %v, want %v", got, want)
			}
		})
	}
}

func TestAllowUnauthenticated(t *testing.T) {
	body := []byte(`{"image": "127.0.0.1:5000/shop/web", "tag": "v2"}`)
	queued := []forge.QueuedDeploy{{ID: 1, Project: "shop", Services: []string{"web"}, Status: forge.StatusQueued}}
	tests := []struct {
		name       string
		secret     string
		headers    map[string]string
		wantStatus int
		wantCalls  int
	}{
		{"no secret, unsigned request accepted", "", nil, http.StatusAccepted, 1},
		{"no secret, any signature ignored", "", map[string]string{sigHeader: "sha256=00"}, http.StatusAccepted, 1},
		{"a secret still binds", testSecret, nil, http.StatusUnauthorized, 0},
		{"a secret still accepts a signature", testSecret, map[string]string{sigHeader: signature(body, testSecret)}, http.StatusAccepted, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDispatcher{queued: queued}
			url := startServer(t, Config{Secret: tt.secret, AllowUnauthenticated: true, Dispatcher: d})
			r := send(t, http.MethodPost, url+"/hooks/generic", body, tt.headers)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.wantStatus, r.body)
			}
			if got := len(d.submitted()); got != tt.wantCalls {
				t.Errorf("dispatcher called %d times, want %d", got, tt.wantCalls)
			}
		})
	}
}

// TestHookMetrics checks the request counter, and that an unknown provider
// name does not become a label value.
func TestHookMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	d := &fakeDispatcher{queued: []forge.QueuedDeploy{{ID: 1, Project: "shop", Services: []string{"web"}, Status: forge.StatusQueued}}}
	url := startServer(t, Config{Secret: testSecret, Dispatcher: d, Registerer: reg})
	body := []byte(`{"image": "127.0.0.1:5000/shop/web"}`)
	signed := map[string]string{sigHeader: signature(body, testSecret)}
	send(t, http.MethodPost, url+"/hooks/generic", body, signed)
	send(t, http.MethodPost, url+"/hooks/generic", body, signed)
	send(t, http.MethodPost, url+"/hooks/generic", body, nil)
	send(t, http.MethodPost, url+"/hooks/made-up-1", body, signed)
	send(t, http.MethodPost, url+"/hooks/made-up-2", body, signed)

	got := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "forge_webhook_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["provider"]+" "+labels["status"]] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"generic 202": 2, "generic 401": 1, "unknown 404": 2}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("forge_webhook_requests_total = %v, want %v", got, want)
	}

	if _, err := New(Config{Secret: testSecret, Dispatcher: d, Registerer: reg}); err == nil {
		t.Error("a second server registered the same metrics without error")
	}
}

// lockedBuffer is a bytes.Buffer that the server's handler goroutines and the
// test can share.
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

// TestLogsHoldNoSecretOrBody sends hooks with the right secret, a wrong one
// and bodies carrying a marker in fields the parser does not keep, and checks
// that no log line, at any level, holds a secret, the marker or a whole body.
func TestLogsHoldNoSecretOrBody(t *testing.T) {
	const (
		secret      = "RIGHT-SECRET-4a7Qw9"
		wrongSecret = "WRONG-SECRET-b9e2Kp"
		marker      = "BODY-MARKER-x3Zq"
	)
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	queued := []forge.QueuedDeploy{{ID: 1, Project: "shop", Services: []string{"web"}, Status: forge.StatusQueued}}
	okURL := startServer(t, Config{Secret: secret, Dispatcher: &fakeDispatcher{queued: queued}, Logger: logger})
	failURL := startServer(t, Config{Secret: secret, Logger: logger, MaxBody: 4096,
		Dispatcher: &fakeDispatcher{err: errors.New("list containers: connection refused")}})

	push := fmt.Sprintf(`{"events": [{"id": "5b0e6c1a-2f4d-4e8b-9a71-3c2d1e0f9a8b", "timestamp": "2024-03-14T09:26:53Z",
 "action": "push", "target": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 741,
 "digest": %q, "repository": "shop/web", "tag": "v2",
 "url": "http://127.0.0.1:5000/v2/shop/web/manifests/%s"},
 "request": {"id": "r1", "addr": "172.17.0.1:51412", "host": "127.0.0.1:5000", "method": "PUT", "useragent": "docker/24.0.7 %s"},
 "actor": {"name": "%s-actor"}, "source": {"addr": "%s-source:5000"}}]}`, webDigest, webDigest, marker, marker, marker)
	onlyOther := fmt.Sprintf(`{"events": [{"id": "e2", "action": "%s-action",
 "target": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": %q, "repository": "shop/web", "tag": "v2"},
 "request": {"host": "127.0.0.1:5000", "useragent": "%s"}}]}`, marker, webDigest, marker)
	generic := `{"image": "127.0.0.1:5000/shop/web", "tag": "v2"}`
	genericExtra := fmt.Sprintf(`{"image": "127.0.0.1:5000/shop/web", "tag": "v2", "note": "%s"}`, marker)
	oversized := fmt.Sprintf(`{"image": "127.0.0.1:5000/shop/web", "note": "%s%s"}`, marker, strings.Repeat(".", 5000))

	requests := []struct {
		name       string
		url        string
		body       string
		headers    map[string]string
		wantStatus int
	}{
		{"distribution right token", okURL + "/hooks/distribution", push, map[string]string{"Authorization": "Bearer " + secret}, http.StatusAccepted},
		{"distribution wrong bearer", okURL + "/hooks/distribution", push, map[string]string{"Authorization": "Bearer " + wrongSecret}, http.StatusUnauthorized},
		{"distribution wrong bare token", okURL + "/hooks/distribution", push, map[string]string{"Authorization": wrongSecret}, http.StatusUnauthorized},
		{"distribution unknown action ignored", okURL + "/hooks/distribution", onlyOther, map[string]string{"Authorization": secret}, http.StatusOK},
		{"distribution dispatcher fails", failURL + "/hooks/distribution", push, map[string]string{"Authorization": "Bearer " + secret}, http.StatusServiceUnavailable},
		{"generic right signature", okURL + "/hooks/generic", generic, map[string]string{sigHeader: signature([]byte(generic), secret)}, http.StatusAccepted},
		{"generic wrong signature", okURL + "/hooks/generic", generic, map[string]string{sigHeader: signature([]byte(generic), wrongSecret)}, http.StatusUnauthorized},
		{"generic wrong bearer", okURL + "/hooks/generic", generic, map[string]string{"Authorization": "Bearer " + wrongSecret}, http.StatusUnauthorized},
		{"generic unknown field", okURL + "/hooks/generic", genericExtra, map[string]string{sigHeader: signature([]byte(genericExtra), secret)}, http.StatusBadRequest},
		{"generic over the limit", failURL + "/hooks/generic", oversized, map[string]string{sigHeader: signature([]byte(oversized), secret)}, http.StatusRequestEntityTooLarge},
	}
	for _, rq := range requests {
		t.Run(rq.name, func(t *testing.T) {
			if r := send(t, http.MethodPost, rq.url, []byte(rq.body), rq.headers); r.status != rq.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", r.status, rq.wantStatus, r.body)
			}
		})
	}

	out := logs.String()
	// The test proves nothing unless the server logged the paths above.
	for _, msg := range []string{"webhook event", "webhook rejected", "webhook ignored", "webhook events not queued"} {
		if !strings.Contains(out, `"msg":"`+msg+`"`) {
			t.Errorf("no %q line in the log:\n%s", msg, out)
		}
	}
	if !strings.Contains(out, `"component":"webhook"`) {
		t.Errorf("log lines lack the component attribute:\n%s", out)
	}
	forbidden := map[string]string{"secret": secret, "wrong secret": wrongSecret, "body marker": marker}
	for _, rq := range requests {
		escaped, _ := json.Marshal(rq.body)
		forbidden["body of "+rq.name] = rq.body
		forbidden["escaped body of "+rq.name] = string(escaped[1 : len(escaped)-1])
	}
	for what, s := range forbidden {
		if strings.Contains(out, s) {
			t.Errorf("the log holds the %s:\n%s", what, out)
		}
	}
}
