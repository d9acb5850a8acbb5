package api

import (
	"errors"
	"net/http"

	"github.com/docker-forge/docker-forge/auth"
	"github.com/docker-forge/docker-forge/webhook"
)

// Authorizer says who sends a request: auth.Authenticator on the TCP
// listener (tokens and browser sessions), auth.Trusted on the unix socket.
type Authorizer interface {
	Resolve(r *http.Request) (auth.Principal, error)
}

// Authenticate resolves every request's principal before next sees it, and
// answers 401 (no or a wrong token), 429 (too many wrong tokens) or 403 (a
// session's write without its CSRF token) when it cannot.
func Authenticate(az Authorizer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := az.Resolve(r)
		if err != nil {
			webhook.Handler(func(w http.ResponseWriter, _ *http.Request) error {
				return AuthError(w, err)
			}).ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// AuthError maps an authentication failure to its status.
func AuthError(w http.ResponseWriter, err error) error {
	switch {
	case errors.Is(err, auth.ErrRateLimited):
		w.Header().Set("Retry-After", "60")
		return webhook.Errorf(http.StatusTooManyRequests, "%v", err)
	case errors.Is(err, auth.ErrCSRF):
		return webhook.Errorf(http.StatusForbidden, "%v", err)
	case errors.Is(err, auth.ErrNoCredentials), errors.Is(err, auth.ErrBadToken):
		return webhook.Errorf(http.StatusUnauthorized, "missing or bad bearer token: %v", err)
	}
	return err
}

// errNotAdmin answers a viewer who asks for a change.
var errNotAdmin = webhook.Errorf(http.StatusForbidden, "deploys, rollbacks and tokens need an admin token; this one is a viewer's")

// admin lets only admins through to fn.
func admin(fn webhook.Handler) webhook.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if p, ok := auth.FromContext(r.Context()); !ok || !p.Admin() {
			return errNotAdmin
		}
		return fn(w, r)
	}
}

// isAdmin reports whether r comes from an admin.
func isAdmin(r *http.Request) bool {
	p, ok := auth.FromContext(r.Context())
	return ok && p.Admin()
}

// who is the name a deploy records as who asked: over TCP the token's (a
// caller cannot claim another), on the socket the local user the CLI names.
func who(r *http.Request, claimed string) string {
	p, _ := auth.FromContext(r.Context())
	return p.Who(claimed)
}
