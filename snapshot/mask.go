// Package snapshot is what docker-forge keeps of a service's configuration
// as a deploy brought it up: the compose model as JSON with its secrets
// replaced by keyed hashes (Masker), read back field by field (Flatten) to
// say what changed between two deploys (Diff, Summary). It knows nothing of
// Docker: the engine makes the JSON, the ledger stores it.
package snapshot

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// Marker starts every masked value: what a person sees of a secret.
const Marker = "••••"

// DefaultSecretNames are the names (environment variables, labels) whose
// values are secrets: glob patterns, matched without regard to case.
var DefaultSecretNames = []string{"*PASSWORD*", "*PASSWD*", "*SECRET*", "*TOKEN*", "*KEY*", "*CREDENTIAL*", "*AUTH*"}

// Masker replaces secret values with a keyed hash: a change still shows as
// a change, and without the key (kept outside the ledger) the hash says
// nothing of the value.
type Masker struct {
	key   []byte
	names []string
}

// NewMasker masks with key the values of names matching DefaultSecretNames
// and the extra patterns.
func NewMasker(key []byte, extra ...string) *Masker {
	names := append([]string(nil), DefaultSecretNames...)
	for _, e := range extra {
		if e = strings.TrimSpace(e); e != "" {
			names = append(names, strings.ToUpper(e))
		}
	}
	return &Masker{key: key, names: names}
}

// SecretName reports whether a variable or label of this name holds a
// secret.
func (m *Masker) SecretName(name string) bool {
	up := strings.ToUpper(name)
	for _, p := range m.names {
		if ok, _ := path.Match(p, up); ok {
			return true
		}
	}
	return false
}

// Hide is a secret value as it is stored: the marker and the value's keyed
// hash.
func (m *Masker) Hide(value string) string {
	mac := hmac.New(sha256.New, m.key)
	mac.Write([]byte(value))
	return Marker + hex.EncodeToString(mac.Sum(nil))[:32]
}

// Same reports whether value is the secret whose masked form is masked.
func (m *Masker) Same(masked, value string) bool {
	return hmac.Equal([]byte(masked), []byte(m.Hide(value)))
}

// IsMasked reports whether a stored value is a masked secret.
func IsMasked(v string) bool { return strings.HasPrefix(v, Marker) }

// urlCredentials matches the user:password@ of a URL.
var urlCredentials = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@\s:]*):([^/@\s]*)@`)

// HasURLCredentials reports whether s holds a URL with a password.
func HasURLCredentials(s string) bool { return urlCredentials.MatchString(s) }

// HideURLCredentials replaces the passwords of the URLs in s with their
// keyed hash.
func (m *Masker) HideURLCredentials(s string) string {
	return urlCredentials.ReplaceAllStringFunc(s, func(u string) string {
		g := urlCredentials.FindStringSubmatch(u)
		return g[1] + g[2] + ":" + m.Hide(g[3]) + "@"
	})
}

// LoadKey reads the masking key at path, making a random one (mode 0600)
// when there is none. The key lives beside the ledger, not in it: a copy of
// the ledger alone cannot test guesses of a secret against its hash.
func LoadKey(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("snapshot key %s: %w", file, err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("snapshot key %s: %w", file, err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return nil, fmt.Errorf("snapshot key %s: %w", file, err)
	}
	return b, nil
}
