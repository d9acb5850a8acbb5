package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// tokenPrefix starts every token forge makes, so a leaked one is easy to
// recognise (and to scan for).
const tokenPrefix = "forge_"

// tokenLen is the length of a token: the prefix and 32 random bytes,
// base64url without padding.
var tokenLen = len(tokenPrefix) + base64.RawURLEncoding.EncodedLen(32)

// NewToken returns a new random token and the hash the ledger keeps of it.
func NewToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, Hash(token)
}

// Hash is what the ledger keeps of a token: its SHA-256, hex. The tokens
// are random and long, so a fast hash is enough.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ValidShape reports whether s looks like a token forge makes.
func ValidShape(s string) bool {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok || len(s) != tokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}
