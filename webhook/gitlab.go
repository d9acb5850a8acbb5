package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// gitlabPush is the part of GitLab's push and tag push events that
// docker-forge reads. checkout_sha is the commit the ref now points to (the
// commit under an annotated tag, whose after is the tag object); it is null
// when the ref was deleted. System hooks name the kind in event_name and,
// in older versions, leave object_kind out.
type gitlabPush struct {
	ObjectKind  string `json:"object_kind"`
	EventName   string `json:"event_name"`
	Ref         string `json:"ref"`
	After       string `json:"after"`
	CheckoutSHA string `json:"checkout_sha"`
	Project     struct {
		PathWithNamespace string `json:"path_with_namespace"`
		GitHTTPURL        string `json:"git_http_url"`
	} `json:"project"`
}

// parseGitLab turns a GitLab Push Hook or Tag Push Hook, from a project,
// group or system hook, into one git event. Deleted refs and every other
// hook are ignored.
func parseGitLab(h http.Header, body []byte) ([]forge.Event, string, error) {
	event, payload, err := gitDelivery(h, body, "X-Gitlab-Event", "Push Hook", "Tag Push Hook", "System Hook")
	if err != nil {
		return nil, "", err
	}
	if event != "Push Hook" && event != "Tag Push Hook" && event != "System Hook" {
		return nil, notPush(event), nil
	}
	var p gitlabPush
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, "", fmt.Errorf("decode push: %w", err)
	}
	if event == "System Hook" {
		kind := p.ObjectKind
		if kind == "" {
			kind = p.EventName
		}
		switch kind {
		case "push", "tag_push":
		case "":
			return nil, notPush("System Hook without object_kind"), nil
		default:
			return nil, notPush("System Hook " + kind), nil
		}
	}
	return gitPush("gitlab", p.Project.PathWithNamespace, p.Project.GitHTTPURL, p.Ref, p.After, p.CheckoutSHA, false)
}
