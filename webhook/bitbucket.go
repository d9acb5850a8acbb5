package webhook

import (
	"errors"
	"net/http"

	"github.com/docker-forge/docker-forge"
)

// parseBitbucket is not written yet.
func parseBitbucket(_ http.Header, _ []byte) ([]forge.Event, string, error) {
	return nil, "", errors.New("bitbucket: provider not implemented yet")
}
