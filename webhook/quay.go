package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// quayPush is the body of a Quay "Repository Push" notification sent by the
// "Webhook POST" method. Quay names no event: a push is known by its
// updated_tags, a build notification by its build_id. updated_tags is an
// array of tag names today, and was an object {tag: v1 image id} before July
// 2017; neither form carries a digest.
type quayPush struct {
	Repository  string          `json:"repository"`
	DockerURL   string          `json:"docker_url"`
	UpdatedTags json.RawMessage `json:"updated_tags"`
	BuildID     json.RawMessage `json:"build_id"`
}

// parseQuay turns a repository push into one event per updated tag, in the
// order Quay lists them, on the host of docker_url (quay.io, or a self-hosted
// Quay's own name). The events have no digest: forge resolves each tag in the
// registry.
func parseQuay(_ http.Header, body []byte) ([]forge.Event, string, error) {
	if registryEmptyBody(body) {
		return nil, "empty body", nil
	}
	var p quayPush
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, "", fmt.Errorf("decode: %w", err)
	}
	if len(p.BuildID) > 0 && string(p.BuildID) != "null" {
		return nil, "build event", nil
	}
	if p.Repository == "" && p.DockerURL == "" {
		return nil, "", errors.New(`no "repository" or "docker_url"`)
	}
	tags, err := quayTags(p.UpdatedTags)
	if err != nil {
		return nil, "", err
	}
	if tags == nil {
		// Vulnerability, mirror and expiry notifications share the URL.
		return nil, "not a repository push", nil
	}
	if len(tags) == 0 {
		return nil, "no updated tags", nil
	}
	host, path := "quay.io", p.Repository
	if p.DockerURL != "" {
		host, path = registrySplitURL(p.DockerURL)
	}
	repo, err := registryRepository(host, path)
	if err != nil {
		return nil, "", err
	}
	var (
		events   []forge.Event
		firstErr error
	)
	seen := map[string]bool{}
	for _, tag := range tags {
		if seen[tag] {
			continue
		}
		seen[tag] = true
		if err := checkTag(tag); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		events = append(events, forge.Event{
			Kind:       forge.KindImage,
			Provider:   "quay",
			Repository: repo,
			Tag:        tag,
		})
	}
	if len(events) == 0 {
		return nil, "", firstErr
	}
	return events, "", nil
}

// quayTags reads updated_tags in either form, keeping the order of the body.
// It returns nil when the field is absent or null, and an empty non-nil
// slice when it lists no tag.
func quayTags(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	tags := []string{}
	switch raw[0] {
	case '[':
		if err := json.Unmarshal(raw, &tags); err != nil {
			return nil, fmt.Errorf("updated_tags: %w", err)
		}
		return tags, nil
	case '{':
		// The legacy object maps each tag to a v1 image id; only the keys
		// matter, and a map would lose their order.
		dec := json.NewDecoder(bytes.NewReader(raw))
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("updated_tags: %w", err)
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("updated_tags: %w", err)
			}
			key, _ := tok.(string)
			var value json.RawMessage
			if err := dec.Decode(&value); err != nil {
				return nil, fmt.Errorf("updated_tags: %w", err)
			}
			tags = append(tags, key)
		}
		return tags, nil
	default:
		return nil, errors.New("updated_tags is neither an array nor an object")
	}
}
