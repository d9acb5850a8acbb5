package registry

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeRegistry answers manifest HEADs for one tag behind the auth scheme
// the test picks, and counts the methods it saw.
type fakeRegistry struct {
	auth    string // "", "basic" or "bearer"
	digest  string
	mu      sync.Mutex
	methods []string
}

func (f *fakeRegistry) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "bob" || p != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("scope") != "repository:shop/web:pull" || r.URL.Query().Get("service") != "reg" {
			t.Errorf("token request query %q", r.URL.RawQuery)
		}
		_, _ = w.Write([]byte(`{"token":"tok-123"}`))
	})
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.methods = append(f.methods, r.Method)
		f.mu.Unlock()
		switch f.auth {
		case "basic":
			if u, p, ok := r.BasicAuth(); !ok || u != "bob" || p != "s3cret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="reg"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		case "bearer":
			if r.Header.Get("Authorization") != "Bearer tok-123" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="reg",scope="repository:shop/web:pull"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		if !strings.Contains(r.Header.Get("Accept"), "application/vnd.oci.image.index.v1+json") {
			t.Errorf("Accept %q does not ask for indexes", r.Header.Get("Accept"))
		}
		if r.URL.Path != "/v2/shop/web/manifests/live" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Docker-Content-Digest", f.digest)
		w.WriteHeader(http.StatusOK)
	})
	return mux
}

func TestHead(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	creds := func(host string) (string, string) { return "bob", "s3cret" }
	tests := []struct {
		name    string
		auth    string
		creds   Credentials
		image   string
		want    string
		wantErr error
	}{
		{name: "anonymous", image: "shop/web:live", want: digest},
		{name: "basic auth", auth: "basic", creds: creds, image: "shop/web:live", want: digest},
		{name: "bearer token", auth: "bearer", creds: creds, image: "shop/web:live", want: digest},
		{name: "unknown tag", image: "shop/web:gone", wantErr: ErrNotFound},
		{name: "basic auth without credentials", auth: "basic", image: "shop/web:live"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRegistry{auth: tt.auth, digest: digest}
			srv := httptest.NewServer(f.handler(t))
			defer srv.Close()
			host := strings.TrimPrefix(srv.URL, "http://") // 127.0.0.1:port: plain HTTP, as for the engine
			c := &Client{Creds: tt.creds}
			got, err := c.Head(t.Context(), host+"/"+tt.image)
			switch {
			case tt.want != "":
				if err != nil || got != tt.want {
					t.Fatalf("Head = %q, %v; want %q", got, err, tt.want)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Head error = %v, want %v", err, tt.wantErr)
				}
			default:
				if err == nil {
					t.Fatalf("Head = %q, want an error", got)
				}
			}
			for _, m := range f.methods {
				if m != http.MethodHead {
					t.Fatalf("the registry saw a %s; only HEADs are allowed", m)
				}
			}
		})
	}
}

func TestParseChallenge(t *testing.T) {
	scheme, p := parseChallenge(`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push"`)
	if scheme != "Bearer" || p["realm"] != "https://auth.docker.io/token" || p["service"] != "registry.docker.io" || p["scope"] != "repository:library/nginx:pull,push" {
		t.Fatalf("parseChallenge = %q %v", scheme, p)
	}
	if _, p := parseChallenge(`Basic realm=reg`); p["realm"] != "reg" {
		t.Fatalf("unquoted value: %v", p)
	}
}

func TestScheme(t *testing.T) {
	for host, want := range map[string]string{
		"127.0.0.1:5000": "http", "localhost:5000": "http", "[::1]:5000": "http",
		"ghcr.io": "https", "registry.example.com:5000": "https", "docker.io": "https",
	} {
		if got := scheme(host); got != want {
			t.Errorf("scheme(%s) = %s, want %s", host, got, want)
		}
	}
	if apiHost("docker.io") != "registry-1.docker.io" {
		t.Error("docker.io must map to its API host")
	}
}
