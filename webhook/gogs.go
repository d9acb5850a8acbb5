package webhook

import (
	"errors"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// parseGogs is not written yet.
func parseGogs(_ http.Header, _ []byte) ([]forge.Event, string, error) {
	return nil, "", errors.New("gogs: provider not implemented yet")
}
