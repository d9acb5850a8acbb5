package cliplugin

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge/certs/certstest"
)

func TestConfigAllowFrom(t *testing.T) {
	t.Setenv("FORGE_WEBHOOK_SECRET", "s3cret")
	tests := []struct {
		name    string
		yaml    string
		want    map[string]string // provider -> its networks, joined; absent: not limited
		wantErr string
	}{
		{name: "none", yaml: "webhook: {}\n", want: map[string]string{}},
		{name: "webhook-wide and a provider's own", yaml: "webhook:\n  allow_from: [10.0.0.0/8, 192.0.2.1]\n  providers:\n    github: {allow_from: [140.82.112.0/20]}\n",
			want: map[string]string{"distribution": "10.0.0.0/8 192.0.2.1/32", "github": "140.82.112.0/20", "gitlab": "10.0.0.0/8 192.0.2.1/32"}},
		{name: "only one provider", yaml: "webhook:\n  providers:\n    harbor: {allow_from: [\"2001:db8::/32\"]}\n", want: map[string]string{"harbor": "2001:db8::/32"}},
		{name: "a bad network", yaml: "webhook:\n  allow_from: [10.0.0.0/40]\n", wantErr: `"10.0.0.0/40"`},
		{name: "an unknown provider", yaml: "webhook:\n  providers:\n    gitbucket: {allow_from: [10.0.0.0/8]}\n", wantErr: "gitbucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := loadSecrets(path, true)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for provider, want := range tt.want {
				var nets []string
				for _, p := range got.AllowFrom[provider] {
					nets = append(nets, p.String())
				}
				if strings.Join(nets, " ") != want {
					t.Errorf("%s allow_from = %v, want %s", provider, nets, want)
				}
			}
			if tt.name == "only one provider" && len(got.AllowFrom) != 1 {
				t.Errorf("providers limited: %v, want harbor alone", got.AllowFrom)
			}
		})
	}
}

func TestExposeOptions(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certstest.NewCA(t, "test CA").Issue(t, "forge.test").Write(t, certPath, keyPath)
	ok := exposeOptions{headerTimeout: time.Second, readTimeout: time.Second}
	tests := []struct {
		name    string
		edit    func(o *exposeOptions)
		https   bool
		wantErr string
	}{
		{name: "plain", edit: func(*exposeOptions) {}},
		{name: "files", edit: func(o *exposeOptions) { o.tlsCert, o.tlsKey = certPath, keyPath }, https: true},
		{name: "acme", edit: func(o *exposeOptions) { o.acmeDomains = []string{"forge.example.com"} }, https: true},
		{name: "acme wildcard", edit: func(o *exposeOptions) { o.acmeDomains = []string{"*.example.com"} }, wantErr: "wildcard"},
		{name: "acme internal name from a public CA", edit: func(o *exposeOptions) { o.acmeDomains = []string{"forge.internal"} }, wantErr: "internal name"},
		{name: "acme internal name from a private CA", edit: func(o *exposeOptions) {
			o.acmeDomains, o.acmeCA = []string{"forge.internal"}, "https://ca.internal/acme/dir"
		}, https: true},
		{name: "cert without key", edit: func(o *exposeOptions) { o.tlsCert = certPath }, wantErr: "go together"},
		{name: "files and acme", edit: func(o *exposeOptions) {
			o.tlsCert, o.tlsKey, o.acmeDomains = certPath, keyPath, []string{"forge.example.com"}
		}, wantErr: "give one"},
		{name: "redirect without HTTPS", edit: func(o *exposeOptions) { o.httpAddr = ":80" }, wantErr: "--http-addr"},
		{name: "acme CA without a domain", edit: func(o *exposeOptions) { o.acmeCA = "https://ca.example/dir" }, wantErr: "need --acme-domain"},
		{name: "a key that is not one", edit: func(o *exposeOptions) { o.tlsCert, o.tlsKey = certPath, certPath }, wantErr: "tls: load"},
		{name: "a bad proxy network", edit: func(o *exposeOptions) { o.trustProxy = []string{"proxy.example"} }, wantErr: "--trust-proxy"},
		{name: "no header timeout", edit: func(o *exposeOptions) { o.headerTimeout = 0 }, wantErr: "--header-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.edit(&o)
			x, err := o.build("127.0.0.1:9470", t.TempDir(), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer x.close()
			if x.https() != tt.https || (x.cert() != nil) != tt.https {
				t.Errorf("https %v (cert %v), want %v", x.https(), x.cert() != nil, tt.https)
			}
		})
	}
}

func TestHTTPSPortOfTheRedirect(t *testing.T) {
	for _, tt := range []struct{ public, listening, want string }{
		{"", "0.0.0.0:8443", "8443"},
		{"https://forge.example.com", "0.0.0.0:8443", "443"},
		{"https://forge.example.com:9443/", "0.0.0.0:8443", "9443"},
		{"http://forge.example.com:8080", "0.0.0.0:8443", "8443"},
	} {
		x := &exposure{publicURL: tt.public}
		if got := x.httpsPort(tt.listening); got != tt.want {
			t.Errorf("public URL %q, listening on %s: redirect to port %s, want %s", tt.public, tt.listening, got, tt.want)
		}
	}
}

func TestMetricsGuard(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("forge_deploys_total 1")) })
	h := metricsGuard("m3trics", inner)
	for _, tt := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer nope", http.StatusUnauthorized}, {"m3trics", http.StatusUnauthorized}, {"Bearer m3trics", http.StatusOK}} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		h.ServeHTTP(w, r)
		if w.Code != tt.want || (w.Code == http.StatusOK) != strings.Contains(w.Body.String(), "forge_deploys_total") {
			t.Errorf("Authorization %q: %d %q, want %d", tt.auth, w.Code, w.Body.String(), tt.want)
		}
	}
	w := httptest.NewRecorder()
	metricsGuard("", inner).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Errorf("without a token set, /metrics = %d, want it open", w.Code)
	}
}
