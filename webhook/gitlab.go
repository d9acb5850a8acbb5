package webhook

import (
	"errors"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// parseGitLab is not written yet.
func parseGitLab(_ http.Header, _ []byte) ([]forge.Event, string, error) {
	return nil, "", errors.New("gitlab: provider not implemented yet")
}
