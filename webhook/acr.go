package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// acrEvent is the body of an Azure Container Registry webhook: one event
// object, not an envelope. ACR signs nothing; the digest in the body is not
// trusted (and its documentation examples redact it to sha256:xxxx…).
type acrEvent struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Target *struct {
		MediaType  string `json:"mediaType"`
		Digest     string `json:"digest"`
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
	} `json:"target"`
	Request *struct {
		Host string `json:"host"`
	} `json:"request"`
}

// acrIgnored says why each action other than push is not a deploy trigger.
var acrIgnored = map[string]string{
	"ping":         "ping",
	"delete":       "image delete",
	"chart_push":   "helm chart push",
	"chart_delete": "helm chart delete",
	"quarantine":   "quarantined image",
}

// parseACR turns an image push into one event on the registry's login
// server (request.host), with the event id as its delivery.
func parseACR(_ http.Header, body []byte) ([]forge.Event, string, error) {
	if registryEmptyBody(body) {
		return nil, "empty body", nil
	}
	var e acrEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, "", fmt.Errorf("decode: %w", err)
	}
	switch e.Action {
	case "push":
	case "":
		return nil, "", errors.New(`no "action"`)
	default:
		if why, ok := acrIgnored[e.Action]; ok {
			return nil, why, nil
		}
		return nil, "not a push", nil
	}
	if e.Target == nil {
		return nil, "", errors.New(`no "target" object`)
	}
	if mt := e.Target.MediaType; mt != "" && !manifestTypes[mt] {
		return nil, "not an image manifest", nil
	}
	if e.Target.Tag == "" {
		return nil, "untagged push", nil
	}
	if e.Request == nil || e.Request.Host == "" {
		return nil, "", errors.New("no registry host in request.host")
	}
	repo, err := registryRepository(e.Request.Host, e.Target.Repository)
	if err != nil {
		return nil, "", err
	}
	if err := checkTag(e.Target.Tag); err != nil {
		return nil, "", err
	}
	return []forge.Event{{
		Kind:       forge.KindImage,
		Provider:   "acr",
		Repository: repo,
		Tag:        e.Target.Tag,
		Digest:     registryDigest(e.Target.Digest),
		Delivery:   cleanDelivery(e.ID),
	}}, "", nil
}
