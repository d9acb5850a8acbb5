package webhook

import "testing"

// TestRegistryRepository checks how a registry provider's host and path
// become a fully qualified repository, and which hosts are refused because
// distribution/reference would read them as a Docker Hub namespace.
func TestRegistryRepository(t *testing.T) {
	tests := []struct {
		name, host, path string
		want             string // "" means an error
	}{
		{"official image", "docker.io", "nginx", "docker.io/library/nginx"},
		{"library prefix", "docker.io", "library/nginx", "docker.io/library/nginx"},
		{"hub user repo", "docker.io", "acme/web", "docker.io/acme/web"},
		{"host-like name stays on the hub", "docker.io", "ghcr.io/acme/web", "docker.io/ghcr.io/acme/web"},
		{"host is lower-cased", "Quay.IO", "acme/web", "quay.io/acme/web"},
		{"host with port", "harbor.example.com:8443", "shop/web", "harbor.example.com:8443/shop/web"},
		{"localhost", "localhost", "web", "localhost/web"},
		{"ipv6 with port", "[::1]:5000", "web", "[::1]:5000/web"},
		{"nested path", "ghcr.io", "acme/shop/web", "ghcr.io/acme/shop/web"},
		{"bare word is not a host", "harbor", "shop/web", ""},
		{"host with a path", "acme.azurecr.io/evil", "web", ""},
		{"empty host", "", "web", ""},
		{"empty path", "quay.io", "", ""},
		{"path with a tag", "quay.io", "acme/web:1.0", ""},
		{"path with upper case", "quay.io", "Acme/web", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := registryRepository(tt.host, tt.path)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("registryRepository(%q, %q) = %q, want an error", tt.host, tt.path, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("registryRepository(%q, %q) = %q, %v; want %q", tt.host, tt.path, got, err, tt.want)
			}
		})
	}
}
