package dispatch

import (
	"regexp"
	"strings"
)

// scrubber removes secrets from error text before it reaches a log line:
// configured secrets, URL credentials, and key=value pairs whose key names a
// credential.
type scrubber struct {
	secrets []string
}

var (
	urlUserinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+(:[^/\s@]*)?@`)
	keyValue    = regexp.MustCompile(`(?i)((?:password|passwd|secret|token|auth|authorization|credentials?|api[_-]?key)["']?\s*[:=]\s*["']?)(?:bearer\s+|basic\s+)?[^\s"',;}]+`)
)

func newScrubber(secrets []string) *scrubber {
	var keep []string
	for _, s := range secrets {
		if len(s) >= 4 { // shorter strings would blank out ordinary words
			keep = append(keep, s)
		}
	}
	return &scrubber{secrets: keep}
}

// String returns s with secrets replaced by "***".
func (sc *scrubber) String(s string) string {
	for _, sec := range sc.secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	s = urlUserinfo.ReplaceAllString(s, "${1}***@")
	return keyValue.ReplaceAllString(s, "${1}***")
}
