package webhook

import (
	"errors"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// parseForgejo is not written yet.
func parseForgejo(_ http.Header, _ []byte) ([]forge.Event, string, error) {
	return nil, "", errors.New("forgejo: provider not implemented yet")
}
