package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/docker-forge/docker-forge"
)

// ghcrPayload is the body of a GitHub package event (X-GitHub-Event:
// package, or the older registry_package, whose object has that key), as
// sent for a container pushed to ghcr.io. zen and hook_id mark a ping.
type ghcrPayload struct {
	Action          string          `json:"action"`
	Package         *ghcrPackage    `json:"package"`
	RegistryPackage *ghcrPackage    `json:"registry_package"`
	Zen             string          `json:"zen"`
	HookID          json.RawMessage `json:"hook_id"`
}

type ghcrPackage struct {
	Name        string `json:"name"`
	Namespace   string `json:"namespace"`
	Ecosystem   string `json:"ecosystem"`
	PackageType string `json:"package_type"`
	Owner       *struct {
		Login string `json:"login"`
	} `json:"owner"`
	PackageVersion *struct {
		Version           string `json:"version"`
		Name              string `json:"name"`
		ContainerMetadata *struct {
			Tag *struct {
				Name   string `json:"name"`
				Digest string `json:"digest"`
			} `json:"tag"`
			Manifest *struct {
				Digest string `json:"digest"`
			} `json:"manifest"`
		} `json:"container_metadata"`
	} `json:"package_version"`
}

// parseGHCR turns a published container package version into one event for
// ghcr.io/<namespace>/<name>:<tag>, with the version's digest. GitHub signs
// the body, so the digest is trusted; the delivery id comes from the
// X-GitHub-Delivery header, which the server reads.
func parseGHCR(h http.Header, body []byte) ([]forge.Event, string, error) {
	event := strings.ToLower(strings.TrimSpace(h.Get("X-GitHub-Event")))
	switch event {
	case "ping":
		return nil, "ping", nil
	case "", "package", "registry_package":
	default:
		return nil, "not a package event", nil
	}
	body, err := ghcrBody(h, body)
	if err != nil {
		return nil, "", err
	}
	if registryEmptyBody(body) {
		return nil, "empty body", nil
	}
	var p ghcrPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, "", fmt.Errorf("decode: %w", err)
	}
	pkg := p.Package
	if pkg == nil || (event == "registry_package" && p.RegistryPackage != nil) {
		pkg = p.RegistryPackage
	}
	if pkg == nil {
		if event == "" && p.Zen != "" && len(p.HookID) > 0 {
			return nil, "ping", nil
		}
		return nil, "", errors.New(`no "package" or "registry_package" object`)
	}
	if p.Action != "published" {
		return nil, "package not published", nil
	}
	// GitHub's own examples say package_type npm with ecosystem docker;
	// real deliveries say CONTAINER for both. Either one will do.
	if !ghcrContainer(pkg.PackageType) && !ghcrContainer(pkg.Ecosystem) {
		return nil, "not a container package", nil
	}
	tag, digest := ghcrVersion(pkg)
	if tag == "" {
		return nil, "untagged package version", nil
	}
	namespace := pkg.Namespace
	if namespace == "" && pkg.Owner != nil {
		namespace = pkg.Owner.Login
	}
	if namespace == "" || pkg.Name == "" {
		return nil, "", errors.New("no package namespace or name")
	}
	// GitHub reports names as the owner spells them (Codertocat); image
	// references on ghcr.io are lower-case.
	repo, err := registryRepository("ghcr.io", strings.ToLower(namespace+"/"+pkg.Name))
	if err != nil {
		return nil, "", err
	}
	if err := checkTag(tag); err != nil {
		return nil, "", err
	}
	return []forge.Event{{
		Kind:       forge.KindImage,
		Provider:   "ghcr",
		Repository: repo,
		Tag:        tag,
		Digest:     digest,
	}}, "", nil
}

// ghcrBody returns the JSON of a delivery: the body itself, or its payload
// field when the hook was set to send application/x-www-form-urlencoded.
func ghcrBody(h http.Header, body []byte) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("decode form: %w", err)
	}
	if !form.Has("payload") {
		return nil, errors.New(`form without a "payload" field`)
	}
	return []byte(form.Get("payload")), nil
}

func ghcrContainer(kind string) bool {
	return strings.EqualFold(kind, "container") || strings.EqualFold(kind, "docker")
}

// ghcrVersion returns the version's tag (empty for an untagged version) and
// its digest: the first one given among the tag's, the manifest's and the
// version's own name (for containers, the manifest digest). When that one is
// not a valid sha256 digest the event goes without: GitHub's own examples
// pair a truncated tag digest with an unrelated version digest, and a digest
// that may belong to another manifest is worse than none.
func ghcrVersion(pkg *ghcrPackage) (tag, digest string) {
	pv := pkg.PackageVersion
	if pv == nil {
		return "", ""
	}
	var candidates []string
	if cm := pv.ContainerMetadata; cm != nil {
		if cm.Tag != nil {
			tag = cm.Tag.Name
			candidates = append(candidates, cm.Tag.Digest)
		}
		if cm.Manifest != nil {
			candidates = append(candidates, cm.Manifest.Digest)
		}
	}
	candidates = append(candidates, pv.Version, pv.Name)
	for _, d := range candidates {
		if d != "" {
			return tag, registryDigest(d)
		}
	}
	return tag, ""
}
