package webhook

import (
	"errors"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// parseGitea is not written yet.
func parseGitea(_ http.Header, _ []byte) ([]forge.Event, string, error) {
	return nil, "", errors.New("gitea: provider not implemented yet")
}
