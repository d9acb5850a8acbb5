package webhook

import (
	"errors"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// parseGitHub is not written yet.
func parseGitHub(_ http.Header, _ []byte) ([]forge.Event, string, error) {
	return nil, "", errors.New("github: provider not implemented yet")
}
