package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// giteaPush is the part of the push event that Gitea, its fork Forgejo and
// its ancestor Gogs send alike. There is no deleted flag: a deleted ref has
// an all-zero after. Newer versions add head_commit, which names the commit
// under an annotated tag.
type giteaPush struct {
	Ref        string `json:"ref"`
	After      string `json:"after"`
	HeadCommit *struct {
		ID string `json:"id"`
	} `json:"head_commit"`
	Repository struct {
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
	} `json:"repository"`
}

// parseGitea turns a Gitea push event into one git event.
func parseGitea(h http.Header, body []byte) ([]forge.Event, string, error) {
	return parseGiteaFamily("gitea", "X-Gitea-Event", h, body)
}

// parseGiteaFamily parses a push from Gitea, Forgejo or Gogs, whose event
// type is in eventHeader. Their create and delete events, which arrive
// beside the push with a short ref, and every other event are ignored.
func parseGiteaFamily(provider, eventHeader string, h http.Header, body []byte) ([]forge.Event, string, error) {
	event, payload, err := gitDelivery(h, body, eventHeader, "push")
	if err != nil {
		return nil, "", err
	}
	if event != "push" {
		return nil, notPush(event), nil
	}
	var p giteaPush
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, "", fmt.Errorf("decode push: %w", err)
	}
	var peeled string
	if p.HeadCommit != nil {
		peeled = p.HeadCommit.ID
	}
	return gitPush(provider, p.Repository.FullName, p.Repository.CloneURL, p.Ref, p.After, peeled, false)
}
