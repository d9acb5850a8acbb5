package webhook

import (
	"errors"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// parseDockerHub is not written yet.
func parseDockerHub(_ http.Header, _ []byte) ([]forge.Event, string, error) {
	return nil, "", errors.New("dockerhub: provider not implemented yet")
}
