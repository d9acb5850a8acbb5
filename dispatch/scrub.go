package dispatch

import (
	"regexp"
	"sort"
	"strings"
)

// scrubber removes secrets from error text before it reaches a log line:
// configured secrets, URL credentials, and key=value pairs whose key names a
// credential.
type scrubber struct {
	secrets []string
}

var (
	// urlUserinfo takes everything up to the last @ before the host, so a
	// password holding an @ goes whole.
	urlUserinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s]*@`)
	credKey     = `(?:password|passwd|secret|token|auth|authorization|credentials?|api[_-]?key)`
	// quotedValue: key="a value with spaces" (or single quotes).
	quotedValue = regexp.MustCompile(`(?i)(` + credKey + `["']?\s*[:=]\s*)("[^"]*"|'[^']*')`)
	// keyValue: key=value, key: value, key: Bearer value, up to a space or quote.
	keyValue = regexp.MustCompile(`(?i)(` + credKey + `["']?\s*[:=]\s*)(?:bearer\s+|basic\s+)?[^\s"']+`)
	// flagValue: --password value, PASSWORD value.
	flagValue = regexp.MustCompile(`(?i)((?:--?|\b)` + credKey + `\s+)[^\s"'=:]+`)
)

func newScrubber(secrets []string) *scrubber {
	var keep []string
	for _, s := range secrets {
		if len(s) >= 4 { // shorter strings would blank out ordinary words
			keep = append(keep, s)
		}
	}
	// Longest first, so a secret that contains another goes whole.
	sort.Slice(keep, func(i, j int) bool { return len(keep[i]) > len(keep[j]) })
	return &scrubber{secrets: keep}
}

// String returns s with secrets replaced by "***".
func (sc *scrubber) String(s string) string {
	for _, sec := range sc.secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	s = urlUserinfo.ReplaceAllString(s, "${1}***@")
	s = quotedValue.ReplaceAllString(s, "${1}\"***\"")
	s = keyValue.ReplaceAllString(s, "${1}***")
	return flagValue.ReplaceAllString(s, "${1}***")
}
