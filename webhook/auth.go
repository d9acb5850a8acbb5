package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
)

var (
	errNoAuth     = errors.New("missing authentication")
	errBadAuth    = errors.New("bad authentication")
	errBadSig     = errors.New("signature does not match the body")
	errNoSecret   = errors.New("no webhook secret configured")
	errBadSigForm = errors.New("malformed signature header")
)

// bearer reports whether the request carries "Authorization: Bearer SECRET",
// which every provider accepts.
func bearer(r *http.Request, secret string) bool {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return false
	}
	return equal(strings.TrimSpace(h[7:]), secret)
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// authFunc checks a request's credentials over its raw body.
type authFunc func(r *http.Request, body []byte, secret string) error

// native builds a provider's auth check: its own credential, read by get and
// checked by check, decides when the request carries one (a wrong signature
// is not rescued by anything else); without it, "Authorization: Bearer
// SECRET", which every provider accepts.
func native(get func(*http.Request) string, check func(cred string, body []byte, secret string) error) authFunc {
	return func(r *http.Request, body []byte, secret string) error {
		if secret == "" {
			return errNoSecret
		}
		if cred := get(r); cred != "" {
			return check(cred, body, secret)
		}
		if bearer(r, secret) {
			return nil
		}
		if r.Header.Get("Authorization") != "" {
			return errBadAuth
		}
		return errNoAuth
	}
}

func header(name string) func(*http.Request) string {
	return func(r *http.Request) string { return r.Header.Get(name) }
}

func sameToken(cred string, _ []byte, secret string) error {
	if equal(strings.TrimSpace(cred), secret) {
		return nil
	}
	return errBadAuth
}

// tokenAuth checks a static token in the Authorization header, bare (as
// Distribution's notification headers send it) or as a bearer token.
var tokenAuth = native(func(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return h // the bare token; a bearer one is native's fallback
	}
	return ""
}, sameToken)

// hmacAuth checks an HMAC-SHA256 of the raw body, hex encoded in the named
// header after prefix.
func hmacAuth(name, prefix string) authFunc {
	return native(header(name), func(sig string, body []byte, secret string) error {
		return checkHMAC(sig, prefix, body, secret)
	})
}

// queryTokenAuth checks ?token=SECRET, for providers that can neither sign
// nor send a header (Docker Hub, Quay, ACR).
var queryTokenAuth = native(func(r *http.Request) string { return r.URL.Query().Get("token") }, sameToken)

// headerTokenAuth checks a plain-text secret sent verbatim in the named
// header (GitLab's X-Gitlab-Token).
func headerTokenAuth(name string) authFunc { return native(header(name), sameToken) }

// checkHMAC compares sig (prefix + hex) with HMAC-SHA256(secret, body) in
// constant time.
func checkHMAC(sig, prefix string, body []byte, secret string) error {
	hexsig, ok := strings.CutPrefix(strings.TrimSpace(sig), prefix)
	if !ok {
		return errBadSigForm
	}
	got, err := hex.DecodeString(hexsig)
	if err != nil || len(got) != sha256.Size {
		return errBadSigForm
	}
	if !hmac.Equal(got, Sign(body, secret)) {
		return errBadSig
	}
	return nil
}

// Sign returns HMAC-SHA256(secret, body).
func Sign(body []byte, secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}
