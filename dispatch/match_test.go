package dispatch

import (
	"slices"
	"strings"
	"testing"

	"github.com/docker-forge/docker-forge"
)

func TestMatch(t *testing.T) {
	nginxLatest := forge.Event{Kind: forge.KindImage, Repository: "docker.io/library/nginx", Tag: "latest", Digest: dg("nginx")}
	appLive := forge.Event{Kind: forge.KindImage, Repository: "127.0.0.1:5000/app", Tag: "live"}
	appV2 := forge.Event{Kind: forge.KindImage, Repository: "127.0.0.1:5000/app", Tag: "v2"}

	tests := []struct {
		name    string
		service forge.Service
		event   forge.Event
		want    bool
	}{
		{"short name normalizes to docker.io/library with tag latest", enabled("web", "nginx"), nginxLatest, true},
		{"explicit latest tag", enabled("web", "nginx:latest"), nginxLatest, true},
		{"fully qualified name", enabled("web", "docker.io/library/nginx:latest"), nginxLatest, true},
		{"other tag of the same repository", enabled("web", "nginx:1.27"), nginxLatest, false},
		{"other repository", enabled("web", "nginxinc/nginx-unprivileged"), nginxLatest, false},
		{"registry with port and tag", enabled("app", "127.0.0.1:5000/app:live"), appLive, true},
		{"registry with port, other tag pushed", enabled("app", "127.0.0.1:5000/app:live"), appV2, false},
		{"registry with port, repository without registry", enabled("app", "app:live"), appLive, false},
		{"no forge.enable label", svc("web", "nginx"), nginxLatest, false},
		{"forge.enable=false", svc("web", "nginx", forge.LabelEnable, "false"), nginxLatest, false},
		{"explicit digest policy", svc("web", "nginx", forge.LabelEnable, "true", forge.LabelPolicy, forge.PolicyDigest), nginxLatest, true},
		{"semver policy is not the digest policy", svc("web", "nginx", forge.LabelEnable, "true", forge.LabelPolicy, "semver:minor"), nginxLatest, false},
		{"git event matches nothing", enabled("web", "nginx"), forge.Event{Kind: forge.KindGit, Repository: "docker.io/library/nginx", Tag: "latest"}, false},
		{"image pinned by digest only has no tag to follow", enabled("web", "nginx@"+dg("old")), nginxLatest, false},
		{"image pinned by digest only, event without tag", enabled("web", "nginx@"+dg("old")), forge.Event{Kind: forge.KindImage, Repository: "docker.io/library/nginx"}, false},
		{"invalid image reference", enabled("web", "Not A/Valid:Image"), nginxLatest, false},
		{"empty image (build-only service)", enabled("web", ""), nginxLatest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := forge.Project{Ref: forge.ProjectRef{Name: "shop"}, Services: []forge.Service{tt.service}}
			got := matchNames(p, tt.event)
			if matched := slices.Equal(got, []string{tt.service.Name}); matched != tt.want || (!tt.want && len(got) != 0) {
				t.Errorf("matchNames(%q, %s) = %v, want match %v", tt.service.Image, tt.event.Image(), got, tt.want)
			}
		})
	}
}

func TestMatchReturnsEveryMatchingServiceInProjectOrder(t *testing.T) {
	p := forge.Project{
		Ref: forge.ProjectRef{Name: "shop"},
		Services: []forge.Service{
			enabled("web", "ghcr.io/acme/shop:live"),
			svc("db", "postgres:16", forge.LabelEnable, "true"),
			enabled("worker", "ghcr.io/acme/shop:live"),
			svc("cron", "ghcr.io/acme/shop:live"),
		},
	}
	ev := forge.Event{Kind: forge.KindImage, Repository: "ghcr.io/acme/shop", Tag: "live"}
	if got, want := matchNames(p, ev), []string{"web", "worker"}; !slices.Equal(got, want) {
		t.Errorf("Match = %v, want %v", got, want)
	}
}

// TestMatchLeavesDigestPinnedServicesAlone: an image written as
// repo:tag@digest in the compose file is the user's own pin; a push of the
// tag must not move it.
func TestMatchLeavesDigestPinnedServicesAlone(t *testing.T) {
	p := forge.Project{Services: []forge.Service{{
		Name:   "web",
		Image:  "nginx:1.27@sha256:" + strings.Repeat("ab", 32),
		Labels: map[string]string{forge.LabelEnable: "true"},
	}}}
	ev := forge.Event{Kind: forge.KindImage, Repository: "docker.io/library/nginx", Tag: "1.27"}
	if got := matchNames(p, ev); len(got) != 0 {
		t.Fatalf("Match = %v, want nothing", got)
	}
}

// matchNames is MatchCurrent against the compose file's tags, by name.
func matchNames(p forge.Project, ev forge.Event) []string {
	hits, _ := MatchCurrent(p, ev, nil)
	out := make([]string, 0, len(hits))
	for _, h := range hits {
		out = append(out, h.Service)
	}
	return out
}
