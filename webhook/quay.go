package webhook

import (
	"errors"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// parseQuay is not written yet.
func parseQuay(_ http.Header, _ []byte) ([]forge.Event, string, error) {
	return nil, "", errors.New("quay: provider not implemented yet")
}
