package webhook

import (
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// parseForgejo turns a Forgejo push event into one git event. Forgejo sends
// Gitea's payload; its own X-Forgejo-Event header names the event.
func parseForgejo(h http.Header, body []byte) ([]forge.Event, string, error) {
	return parseGiteaFamily("forgejo", "X-Forgejo-Event", h, body)
}
