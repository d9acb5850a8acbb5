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

// tokenAuth checks a static token in the Authorization header, either bare
// (as Distribution's notification headers send it) or as a bearer token.
func tokenAuth(r *http.Request, _ []byte, secret string) error {
	if secret == "" {
		return errNoSecret
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return errNoAuth
	}
	if bearer(r, secret) || equal(strings.TrimSpace(h), secret) {
		return nil
	}
	return errBadAuth
}

// hmacAuth checks an HMAC-SHA256 of the raw body, hex encoded in header after
// prefix. A bearer token is accepted instead.
func hmacAuth(header, prefix string) func(r *http.Request, body []byte, secret string) error {
	return func(r *http.Request, body []byte, secret string) error {
		if secret == "" {
			return errNoSecret
		}
		sig := r.Header.Get(header)
		if sig == "" {
			if bearer(r, secret) {
				return nil
			}
			if r.Header.Get("Authorization") != "" {
				return errBadAuth
			}
			return errNoAuth
		}
		return checkHMAC(sig, prefix, body, secret)
	}
}

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

// queryTokenAuth checks ?token=SECRET, for providers that can neither sign
// nor send a header (Docker Hub, Quay, ACR). A bearer token is accepted
// instead.
func queryTokenAuth(r *http.Request, _ []byte, secret string) error {
	if secret == "" {
		return errNoSecret
	}
	if bearer(r, secret) {
		return nil
	}
	tok := r.URL.Query().Get("token")
	if tok == "" {
		if r.Header.Get("Authorization") != "" {
			return errBadAuth
		}
		return errNoAuth
	}
	if equal(tok, secret) {
		return nil
	}
	return errBadAuth
}

// headerTokenAuth checks a plain-text secret sent verbatim in header (GitLab's
// X-Gitlab-Token). A bearer token is accepted instead.
func headerTokenAuth(header string) func(r *http.Request, body []byte, secret string) error {
	return func(r *http.Request, _ []byte, secret string) error {
		if secret == "" {
			return errNoSecret
		}
		if bearer(r, secret) {
			return nil
		}
		v := r.Header.Get(header)
		if v == "" {
			if r.Header.Get("Authorization") != "" {
				return errBadAuth
			}
			return errNoAuth
		}
		if equal(v, secret) {
			return nil
		}
		return errBadAuth
	}
}
