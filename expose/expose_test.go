package expose

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestPeerBelievesOnlyTrustedProxies(t *testing.T) {
	trusted, err := ParsePrefixes("test", []string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		remote     string
		xff, proto string
		wantAddr   string
		wantSecure bool
	}{
		{"direct client", "198.51.100.4:5555", "", "", "198.51.100.4", false},
		{"untrusted client claiming another address", "198.51.100.4:5555", "203.0.113.9", "https", "198.51.100.4", false},
		{"trusted proxy naming the client", "10.1.2.3:443", "203.0.113.9", "https", "203.0.113.9", true},
		{"client-supplied hop before the proxy's is skipped", "10.1.2.3:443", "6.6.6.6, 203.0.113.9", "http", "203.0.113.9", false},
		{"chain of trusted proxies", "10.1.2.3:443", "203.0.113.9, 192.0.2.7", "https", "203.0.113.9", true},
		{"trusted proxy without headers", "192.0.2.7:1000", "", "", "192.0.2.7", false},
		{"IPv4 in IPv6", "[::ffff:10.1.2.3]:443", "203.0.113.9", "", "203.0.113.9", false},
		{"proxy appending address and port", "10.1.2.3:443", "140.82.112.5, 6.6.6.6:4444", "", "6.6.6.6", false},
		{"proxy appending an IPv6 address and port", "10.1.2.3:443", "140.82.112.5, [2001:db8::6]:4444", "", "2001:db8::6", false},
		{"client's own proto before the proxy's", "10.1.2.3:443", "203.0.113.9", "https, http", "203.0.113.9", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			if tt.name == "client's own proto before the proxy's" {
				r.Header.Add("X-Forwarded-Proto", "http")
			}
			var got Peer
			w := httptest.NewRecorder()
			Middleware(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = PeerOf(r) })).ServeHTTP(w, r)
			if got.Addr != netip.MustParseAddr(tt.wantAddr) || got.Secure != tt.wantSecure {
				t.Errorf("peer = %v secure=%v, want %s secure=%v", got.Addr, got.Secure, tt.wantAddr, tt.wantSecure)
			}
			if hsts := w.Header().Get("Strict-Transport-Security"); (hsts != "") != tt.wantSecure {
				t.Errorf("Strict-Transport-Security = %q with secure=%v", hsts, tt.wantSecure)
			}
		})
	}
}

// TestUnparsableHopFailsClosed: a hop the proxy wrote that is no address
// gives no client address at all, rather than the client's own claim.
func TestUnparsableHopFailsClosed(t *testing.T) {
	trusted, _ := ParsePrefixes("test", []string{"10.0.0.0/8"})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.1.2.3:443"
	r.Header.Set("X-Forwarded-For", "140.82.112.5, unknown")
	var got Peer
	Middleware(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = PeerOf(r) })).ServeHTTP(httptest.NewRecorder(), r)
	allow, _ := ParsePrefixes("allow_from", []string{"140.82.112.0/20"})
	if got.Addr.IsValid() || Contains(allow, got.Addr) {
		t.Errorf("peer = %v; want no address, outside every allowlist", got.Addr)
	}
	var local Peer
	LocalMiddleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { local = PeerOf(r) })).ServeHTTP(httptest.NewRecorder(), r)
	if !local.Local {
		t.Error("LocalMiddleware did not mark the request as local")
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes("allow_from", []string{"10.1.2.3/8", " 127.0.0.1 ", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "127.0.0.1/32", "::1/128"}
	for i, p := range got {
		if p.String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, p, want[i])
		}
	}
	if !Contains(got, netip.MustParseAddr("::ffff:10.9.9.9")) || Contains(got, netip.MustParseAddr("127.0.0.2")) {
		t.Error("Contains: wrong answer for a mapped address in 10/8 or an address next to a /32")
	}
	if _, err := ParsePrefixes("allow_from", []string{"10.0.0.0/33"}); err == nil || !strings.Contains(err.Error(), "allow_from") {
		t.Errorf("a bad network: error %v, want one naming the list", err)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9470": true, "[::1]:9470": true, "localhost:9470": true,
		"0.0.0.0:9470": false, ":9470": false, "[::]:9470": false, "192.0.2.1:9470": false, "forge.example.com:443": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestRedirectOnlyRedirectsPages(t *testing.T) {
	acmeSeen := false
	acme := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
				acmeSeen = true
				_, _ = w.Write([]byte("key-authorization"))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	h := Redirect("8443", acme)
	tests := []struct {
		method, target string
		status         int
		location       string
	}{
		{http.MethodGet, "http://forge.example.com:8080/projects/shop?x=1", http.StatusPermanentRedirect, "https://forge.example.com:8443/projects/shop?x=1"},
		{http.MethodHead, "http://forge.example.com/", http.StatusPermanentRedirect, "https://forge.example.com:8443/"},
		{http.MethodGet, "http://forge.example.com/api/projects", http.StatusForbidden, ""},
		{http.MethodPost, "http://forge.example.com/hooks/distribution", http.StatusForbidden, ""},
		{http.MethodGet, "http://forge.example.com/metrics", http.StatusForbidden, ""},
		{http.MethodGet, "http://forge.example.com/hooks/dockerhub?token=x", http.StatusForbidden, ""},
		{http.MethodGet, "http://forge.example.com/apiary", http.StatusPermanentRedirect, "https://forge.example.com:8443/apiary"},
		{http.MethodGet, "http://forge.example.com/.well-known/acme-challenge/tok", http.StatusOK, ""},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.target, nil))
		if w.Code != tt.status || w.Header().Get("Location") != tt.location {
			t.Errorf("%s %s = %d Location %q, want %d %q", tt.method, tt.target, w.Code, w.Header().Get("Location"), tt.status, tt.location)
		}
		if tt.status == http.StatusForbidden && !strings.Contains(w.Body.String(), "https://forge.example.com:8443") {
			t.Errorf("%s %s: the refusal %q does not say where to go", tt.method, tt.target, w.Body.String())
		}
	}
	if !acmeSeen {
		t.Error("the ACME HTTP-01 challenge never reached its handler")
	}
	w := httptest.NewRecorder()
	Redirect("443", nil).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://[2001:db8::1]:80/", nil))
	if loc := w.Header().Get("Location"); loc != "https://[2001:db8::1]/" {
		t.Errorf("redirect of an IPv6 host to 443 = %q", loc)
	}
}
