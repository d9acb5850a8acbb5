package dispatch

import (
	"fmt"
	"path"
	"strings"

	"golang.org/x/mod/semver"

	"github.com/docker-forge/docker-forge"
)

// Hit is a service an image event concerns, and the tag it should move to.
type Hit struct {
	Service string
	// Tag is the pushed tag the service moves to: its own tag under the
	// digest policy, a newer version or a matching tag otherwise.
	Tag string
}

// Decide applies a service's update policy (forge.policy) to an image push.
// current is the tag the service runs now: the tag of its last successful
// deploy, or the one in the compose file. It returns whether the push
// applies, and when it does not but the repository is the service's, why.
//
//   - digest (default): the same tag, a new digest;
//   - semver:patch|minor|major: a pushed tag that is a newer semantic
//     version within the range (same major.minor, same major, any). A
//     pre-release is taken only over a pre-release of the same version, so
//     1.5.0-rc.1 never replaces 1.4.2; build metadata is ignored, as semver
//     orders versions;
//   - glob:<pattern>: a pushed tag matching the pattern (path.Match syntax).
func Decide(policy, current, pushed string) (bool, string) {
	switch {
	case policy == forge.PolicyDigest:
		if pushed == current {
			return true, ""
		}
		return false, fmt.Sprintf("follows tag %s, not %s", current, pushed)
	case strings.HasPrefix(policy, "glob:"):
		pattern := strings.TrimPrefix(policy, "glob:")
		ok, err := path.Match(pattern, pushed)
		if err != nil {
			return false, fmt.Sprintf("bad glob pattern %q", pattern)
		}
		if !ok {
			return false, fmt.Sprintf("tag %s does not match %s", pushed, pattern)
		}
		return true, ""
	case strings.HasPrefix(policy, "semver:"):
		return decideSemver(strings.TrimPrefix(policy, "semver:"), current, pushed)
	}
	return false, fmt.Sprintf("unknown policy %q", policy)
}

func decideSemver(level, current, pushed string) (bool, string) {
	if level != "patch" && level != "minor" && level != "major" {
		return false, fmt.Sprintf("unknown semver level %q (want patch, minor or major)", level)
	}
	cur, pv := canonical(current), canonical(pushed)
	if cur == "" {
		return false, fmt.Sprintf("current tag %s is not a semantic version", current)
	}
	if pv == "" {
		return false, fmt.Sprintf("tag %s is not a semantic version", pushed)
	}
	if semver.Compare(pv, cur) <= 0 {
		return false, fmt.Sprintf("%s is not newer than %s", pushed, current)
	}
	if semver.Prerelease(pv) != "" {
		core := func(v string) string { return strings.TrimSuffix(v, semver.Prerelease(v)) }
		if semver.Prerelease(cur) == "" || core(cur) != core(pv) {
			return false, fmt.Sprintf("%s is a pre-release and %s is not a pre-release of the same version", pushed, current)
		}
	}
	switch level {
	case "patch":
		if semver.MajorMinor(pv) != semver.MajorMinor(cur) {
			return false, fmt.Sprintf("%s is outside the patch range of %s", pushed, current)
		}
	case "minor":
		if semver.Major(pv) != semver.Major(cur) {
			return false, fmt.Sprintf("%s is outside the minor range of %s", pushed, current)
		}
	}
	return true, ""
}

// canonical returns the semver form of a tag ("1.4" -> "v1.4.0"), or "" when
// it is not a version.
func canonical(tag string) string {
	v := tag
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) {
		return ""
	}
	return semver.Canonical(v) // drops build metadata, keeps the pre-release
}

// newerVersion reports whether tag a is a newer semantic version than b.
func newerVersion(a, b string) bool {
	ca, cb := canonical(a), canonical(b)
	return ca != "" && cb != "" && semver.Compare(ca, cb) > 0
}
