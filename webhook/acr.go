package webhook

import (
	"errors"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// parseACR is not written yet.
func parseACR(_ http.Header, _ []byte) ([]forge.Event, string, error) {
	return nil, "", errors.New("acr: provider not implemented yet")
}
