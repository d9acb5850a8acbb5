package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/distribution/reference"

	"github.com/docker-forge/docker-forge"
)

// dockerHubPush is the body of a Docker Hub repository webhook. Docker Hub
// sends pushes only, unsigned, with neither a digest nor a registry host:
// the repository is always on docker.io. Timestamps (sometimes floats in
// exponent form) and push_data.images (sometimes holding "...") are not
// read, so their oddities cannot break the decode.
type dockerHubPush struct {
	PushData *struct {
		Tag string `json:"tag"`
	} `json:"push_data"`
	Repository *struct {
		RepoName  string `json:"repo_name"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"repository"`
}

// parseDockerHub turns a Docker Hub push into one event for docker.io. The
// event has no digest: forge resolves the tag in the registry.
func parseDockerHub(_ http.Header, body []byte) ([]forge.Event, string, error) {
	if registryEmptyBody(body) {
		return nil, "empty body", nil
	}
	var p dockerHubPush
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, "", fmt.Errorf("decode: %w", err)
	}
	if p.PushData == nil || p.Repository == nil {
		return nil, "", errors.New(`no "push_data" or "repository" object`)
	}
	name := p.Repository.RepoName
	if name == "" && p.Repository.Namespace != "" && p.Repository.Name != "" {
		name = p.Repository.Namespace + "/" + p.Repository.Name
	}
	if name == "" {
		return nil, "", errors.New("no repository.repo_name")
	}
	if p.PushData.Tag == "" {
		return nil, "untagged push", nil
	}
	// Docker Hub names carry no host; prefixing docker.io keeps a name that
	// looks like one (acme.io/web) on Docker Hub, and normalizes official
	// images (nginx) to docker.io/library/nginx.
	repo, err := registryRepository("docker.io", name)
	if err != nil {
		return nil, "", err
	}
	if err := checkTag(p.PushData.Tag); err != nil {
		return nil, "", err
	}
	return []forge.Event{{
		Kind:       forge.KindImage,
		Provider:   "dockerhub",
		Repository: repo,
		Tag:        p.PushData.Tag,
	}}, "", nil
}

// The helpers below are shared by the registry providers (dockerhub, ghcr,
// harbor, quay, acr).

// registryEmptyBody reports whether a body holds nothing but white space, as
// Harbor's "Test Endpoint" sends.
func registryEmptyBody(body []byte) bool {
	return len(bytes.TrimSpace(body)) == 0
}

// anchoredDomain matches a whole registry host, with an optional port.
var anchoredDomain = regexp.MustCompile(`^` + reference.DomainRegexp.String() + `$`)

// registryRepository returns the fully qualified repository for path on the
// registry at host. The host is lower-cased, and must read as a host to
// distribution/reference (a dot, a port, or localhost): otherwise it would be
// taken for a Docker Hub namespace.
func registryRepository(host, path string) (string, error) {
	host = strings.ToLower(host)
	if !anchoredDomain.MatchString(host) || (host != "localhost" && !strings.ContainsAny(host, ".:")) {
		return "", fmt.Errorf("invalid registry host %q", host)
	}
	if path == "" {
		return "", errors.New("no repository name")
	}
	return normalizeRepository(host + "/" + path)
}

// registrySplitURL splits a registry reference such as Harbor's resource_url
// or Quay's docker_url (host[:port]/path[:tag|@digest], perhaps with a
// scheme) into its host and the rest.
func registrySplitURL(s string) (host, rest string) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	host, rest, _ = strings.Cut(s, "/")
	return host, rest
}

// registryDigest returns d when it is a valid sha256 digest, and "" for
// anything else: a missing digest, a redacted one (ACR's documentation
// examples read sha256:xxxx…), or another algorithm. An event without a
// digest leaves the dispatcher to resolve the tag in the registry.
func registryDigest(d string) string {
	if d == "" || checkDigest(d) != nil {
		return ""
	}
	return d
}
