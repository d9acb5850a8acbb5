package webhook

import (
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// parseGogs turns a Gogs push event into one git event. Gitea forked from
// Gogs and kept its payload; X-Gogs-Event names the event.
func parseGogs(h http.Header, body []byte) ([]forge.Event, string, error) {
	return parseGiteaFamily("gogs", "X-Gogs-Event", h, body)
}
