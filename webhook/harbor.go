package webhook

import (
	"errors"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// parseHarbor is not written yet.
func parseHarbor(_ http.Header, _ []byte) ([]forge.Event, string, error) {
	return nil, "", errors.New("harbor: provider not implemented yet")
}
