package webhook

import (
	"errors"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// parseGHCR is not written yet.
func parseGHCR(_ http.Header, _ []byte) ([]forge.Event, string, error) {
	return nil, "", errors.New("ghcr: provider not implemented yet")
}
