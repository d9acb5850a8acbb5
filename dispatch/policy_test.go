package dispatch

import (
	"slices"
	"strings"
	"testing"

	"github.com/docker-forge/docker-forge"
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name, policy, current, pushed string
		want                          bool
		why                           string // a part of the reason, when refused
	}{
		{"digest: same tag", "digest", "live", "live", true, ""},
		{"digest: other tag", "digest", "live", "v2", false, "follows tag live"},
		{"patch: newer patch", "semver:patch", "1.4.2", "1.4.3", true, ""},
		{"patch: v prefix on one side", "semver:patch", "v1.4.2", "1.4.10", true, ""},
		{"patch: minor bump refused", "semver:patch", "1.4.2", "1.5.0", false, "outside the patch range"},
		{"patch: older refused", "semver:patch", "1.4.2", "1.4.1", false, "not newer"},
		{"patch: same refused", "semver:patch", "1.4.2", "1.4.2", false, "not newer"},
		{"minor: minor bump", "semver:minor", "1.4.2", "1.5.0", true, ""},
		{"minor: major bump refused", "semver:minor", "1.4.2", "2.0.0", false, "outside the minor range"},
		{"major: major bump", "semver:major", "1.4.2", "2.0.0", true, ""},
		{"major: short form", "semver:major", "1.4", "1.5", true, ""},
		{"pre-release over a release refused", "semver:minor", "1.4.2", "1.5.0-rc.1", false, "pre-release"},
		{"pre-release over an older pre-release of the same version", "semver:patch", "1.5.0-rc.1", "1.5.0-rc.2", true, ""},
		{"release over its pre-release", "semver:patch", "1.5.0-rc.2", "1.5.0", true, ""},
		{"pre-release of another version refused", "semver:major", "1.5.0-rc.1", "1.6.0-rc.1", false, "pre-release"},
		{"build metadata does not make a newer version", "semver:patch", "1.4.2", "1.4.2+build.7", false, "not newer"},
		{"not a version", "semver:minor", "1.4.2", "latest", false, "not a semantic version"},
		{"current not a version", "semver:minor", "live", "1.4.2", false, "current tag live"},
		{"unknown level", "semver:feature", "1.4.2", "1.4.3", false, "unknown semver level"},
		{"glob match", "glob:release-*", "release-1", "release-2", true, ""},
		{"glob miss", "glob:release-*", "release-1", "nightly-2", false, "does not match"},
		{"glob bad pattern", "glob:[", "x", "y", false, "bad glob"},
		{"unknown policy", "newest", "1", "2", false, "unknown policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := Decide(tt.policy, tt.current, tt.pushed)
			if got != tt.want {
				t.Fatalf("Decide(%q, %q, %q) = %v (%s), want %v", tt.policy, tt.current, tt.pushed, got, why, tt.want)
			}
			if !got && !strings.Contains(why, tt.why) {
				t.Fatalf("reason %q does not say %q", why, tt.why)
			}
		})
	}
}

// TestSemverPolicyDeploysNewerTagAndRecordsIt: a push of 1.4.3 moves a
// service on 1.4.2 under semver:patch, and the ledger records the new tag;
// the next push compares with 1.4.3, not with the compose file.
func TestSemverPolicyDeploysNewerTagAndRecordsIt(t *testing.T) {
	e := newEnv(t)
	repo := "127.0.0.1:5000/shop/api"
	svc := enabled("api", repo+":1.4.2")
	svc.Labels[forge.LabelPolicy] = "semver:patch"
	e.eng.addProject("shop", svc)
	e.eng.run("shop", "api", dg("1.4.2"))
	e.eng.push(repo, "1.4.3", dg("1.4.3"))
	e.startRun(t)

	queued, ignored, err := e.d.Submit(t.Context(), []forge.Event{{Kind: forge.KindImage, Provider: "generic", Repository: repo, Tag: "1.4.3"}})
	if err != nil || len(queued) != 1 {
		t.Fatalf("Submit(1.4.3) = %+v %q %v", queued, ignored, err)
	}
	rec := e.waitFinal(t, queued[0].ID)
	if rec.Status != forge.StatusSucceeded {
		t.Fatalf("deploy: %+v", rec)
	}
	s, _ := rec.Service("api")
	if s.Image != repo+":1.4.3" || s.Digest != dg("1.4.3") || s.Previous != dg("1.4.2") {
		t.Fatalf("recorded %+v, want the new tag 1.4.3 at its digest", s)
	}
	if !slices.Contains(e.eng.resolves(), repo+":1.4.3") {
		t.Fatalf("resolved %v, want the new tag looked up", e.eng.resolves())
	}

	// 1.4.3 runs now: a late push of 1.4.2 (older) and one of 1.5.0 (out of
	// range) are refused, and the answer says why.
	for _, tag := range []string{"1.4.2", "1.5.0"} {
		queued, ignored, err := e.d.Submit(t.Context(), []forge.Event{{Kind: forge.KindImage, Provider: "generic", Repository: repo, Tag: tag}})
		if err != nil || len(queued) != 0 || !strings.Contains(ignored, "shop/api (semver:patch)") {
			t.Fatalf("Submit(%s) = %+v %q %v, want refused with the policy's reason", tag, queued, ignored, err)
		}
	}
}

// TestDigestPolicyFollowsTheComposeFileNotTheLedger: a user who moved the
// compose file from :v1 to :v2 gets pushes of v2, and a push of v1 no longer
// concerns the service, whatever the ledger last recorded.
func TestDigestPolicyFollowsTheComposeFileNotTheLedger(t *testing.T) {
	repo := "127.0.0.1:5000/shop/web"
	p := forge.Project{Ref: forge.ProjectRef{Name: "shop"}, Services: []forge.Service{enabled("web", repo+":v2")}}
	lastDeployed := func(string) string { return "v1" }
	if hits, _ := MatchCurrent(p, forge.Event{Kind: forge.KindImage, Repository: repo, Tag: "v2"}, lastDeployed); len(hits) != 1 {
		t.Fatalf("a push of the compose file's tag was refused: %v", hits)
	}
	if hits, _ := MatchCurrent(p, forge.Event{Kind: forge.KindImage, Repository: repo, Tag: "v1"}, lastDeployed); len(hits) != 0 {
		t.Fatalf("a push of the ledger's old tag matched: %v", hits)
	}
	// semver: the compose file moved past what the ledger recorded.
	svc := enabled("api", repo+":1.5.0")
	svc.Labels[forge.LabelPolicy] = "semver:patch"
	p.Services = []forge.Service{svc}
	if hits, _ := MatchCurrent(p, forge.Event{Kind: forge.KindImage, Repository: repo, Tag: "1.5.1"}, func(string) string { return "1.4.9" }); len(hits) != 1 {
		t.Fatalf("semver compared with an older ledger tag instead of the compose file's: %v", hits)
	}
}
