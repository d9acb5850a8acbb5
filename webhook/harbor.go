package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/docker-forge/docker-forge"
)

// harborEvent is the body of a Harbor webhook in either payload format:
// "Default" (type PUSH_ARTIFACT, or pushImage in Harbor 1.9–1.10, with
// event_data) or "CloudEvents" (Harbor 2.8+, Content-Type
// application/cloudevents+json, type harbor.artifact.pushed, with data and an
// event id).
type harborEvent struct {
	SpecVersion string      `json:"specversion"`
	ID          string      `json:"id"`
	Type        string      `json:"type"`
	EventData   *harborData `json:"event_data"`
	Data        *harborData `json:"data"`
}

type harborData struct {
	Resources  []harborResource `json:"resources"`
	Repository *struct {
		RepoFullName string `json:"repo_full_name"`
	} `json:"repository"`
}

// harborResource is one pushed artifact: one element per tag. A push by
// digest (and a replication) names the digest as its tag and resource_url
// as host/project/repo@sha256:….
type harborResource struct {
	Digest      string `json:"digest"`
	Tag         string `json:"tag"`
	ResourceURL string `json:"resource_url"`
}

// harborIgnored says why each kind of non-push event is not a deploy
// trigger, by its type in every format.
var harborIgnored = map[string]string{
	"PULL_ARTIFACT":           "artifact pull",
	"pullImage":               "artifact pull",
	"harbor.artifact.pulled":  "artifact pull",
	"DELETE_ARTIFACT":         "artifact delete",
	"deleteImage":             "artifact delete",
	"harbor.artifact.deleted": "artifact delete",
}

// parseHarbor turns an artifact push into one event per tagged resource, in
// order, on the host of each resource_url. An empty body is Harbor's "Test
// Endpoint" button (v1.9–v2.7).
func parseHarbor(h http.Header, body []byte) ([]forge.Event, string, error) {
	if registryEmptyBody(body) {
		return nil, "test endpoint", nil
	}
	var e harborEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, "", fmt.Errorf("decode: %w", err)
	}
	switch e.Type {
	case "PUSH_ARTIFACT", "pushImage", "harbor.artifact.pushed":
	case "":
		return nil, "", errors.New(`no event "type"`)
	default:
		if why, ok := harborIgnored[e.Type]; ok {
			return nil, why, nil
		}
		return nil, "not an artifact push", nil
	}
	cloud := e.SpecVersion != "" || harborCloudEvents(h)
	data, delivery := e.EventData, ""
	if cloud {
		data, delivery = e.Data, cleanDelivery(e.ID)
	}
	if data == nil {
		// A body in the other format than its Content-Type says.
		data = e.Data
		if data == nil {
			data = e.EventData
		}
	}
	if data == nil {
		return nil, "", errors.New(`no "event_data" or "data" object`)
	}
	repoName := ""
	if data.Repository != nil {
		repoName = data.Repository.RepoFullName
	}
	var (
		events            []forge.Event
		untagged, invalid int
		firstErr          error
	)
	for i, r := range data.Resources {
		if r.Tag == "" || r.Tag == r.Digest || strings.HasPrefix(r.Tag, "sha256:") {
			untagged++
			continue
		}
		ev, err := harborPush(r, repoName, delivery)
		if err != nil {
			// One bad resource must not hold back the others pushed with it.
			invalid++
			if firstErr == nil {
				firstErr = fmt.Errorf("resource %d: %w", i, err)
			}
			continue
		}
		events = append(events, ev)
	}
	switch {
	case len(events) > 0:
		return events, "", nil
	case firstErr != nil:
		return nil, "", firstErr
	case untagged > 0:
		return nil, fmt.Sprintf("no tagged artifact: %d pushed by digest", untagged), nil
	default:
		return nil, "no resources", nil
	}
}

// harborPush turns one tagged resource into an event.
func harborPush(r harborResource, repoName, delivery string) (forge.Event, error) {
	host, _ := registrySplitURL(r.ResourceURL)
	if host == "" {
		return forge.Event{}, errors.New("no registry host in resource_url")
	}
	if repoName == "" {
		return forge.Event{}, errors.New("no repository.repo_full_name")
	}
	repo, err := registryRepository(host, repoName)
	if err != nil {
		return forge.Event{}, err
	}
	if err := checkTag(r.Tag); err != nil {
		return forge.Event{}, err
	}
	return forge.Event{
		Kind:       forge.KindImage,
		Provider:   "harbor",
		Repository: repo,
		Tag:        r.Tag,
		Digest:     registryDigest(r.Digest),
		Delivery:   delivery,
	}, nil
}

// harborCloudEvents reports whether the request says it carries a
// structured-mode CloudEvent.
func harborCloudEvents(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "application/cloudevents+json"
}
