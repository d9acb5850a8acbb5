// Package auth says who makes a request to docker-forge's TCP listener and
// what they may do: API tokens (only their hash is stored) with an admin or
// a viewer role, the FORGE_API_TOKEN admin token, and the browser sessions
// a token opens, with their CSRF tokens. Wrong tokens are rate-limited per
// client address and never logged. The unix socket trusts its file
// permissions instead (Trusted).
package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/expose"
)

// Principal is who a request comes from.
type Principal struct {
	// Name is the token's name ("FORGE_API_TOKEN", "socket" for the unix
	// socket).
	Name string
	Role forge.Role
	// CSRF is the session's CSRF token, for pages to send back; empty when
	// the request carried a bearer token.
	CSRF string
	// Session is the browser session's ID, empty for a bearer token.
	Session string
}

// Admin reports whether the principal may change things.
func (p Principal) Admin() bool { return p.Role == forge.RoleAdmin }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal a request was resolved to.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Errors Resolve returns; callers map them to 401, 429 and 403.
var (
	ErrNoCredentials = errors.New("sign in, or send Authorization: Bearer <token>")
	ErrBadToken      = errors.New("token not accepted")
	ErrRateLimited   = errors.New("too many wrong tokens from this address; wait a minute")
	ErrCSRF          = errors.New("missing or wrong CSRF token: reload the page")
)

// CookieName is the browser session's cookie.
const CookieName = "forge_session"

// CSRFHeader carries the session's CSRF token on state-changing requests
// made by the page's scripts; forms send the field CSRFField.
const (
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf"
)

// TokenStore is the part of the ledger tokens are read from, so tests can
// pass a map.
type TokenStore interface {
	Tokens() ([]forge.Token, error)
	Token(name string) (forge.Token, error)
}

// Config configures an Authenticator.
type Config struct {
	Tokens TokenStore
	// AdminToken is FORGE_API_TOKEN: an admin token kept outside the ledger.
	AdminToken string
	Sessions   *Sessions
	Limiter    *Limiter
	Logger     *slog.Logger
}

// Authenticator resolves requests on the TCP listener.
type Authenticator struct {
	cfg Config
	log *slog.Logger
}

// New returns an Authenticator.
func New(cfg Config) *Authenticator {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Sessions == nil {
		cfg.Sessions = NewSessions(DefaultSessionTTL)
	}
	if cfg.Limiter == nil {
		cfg.Limiter = NewLimiter(DefaultFailures, DefaultFailureWindow)
	}
	return &Authenticator{cfg: cfg, log: log.With("component", "auth")}
}

// Resolve says who sent r: a bearer token, or a session cookie (whose
// state-changing requests must carry its CSRF token).
func (a *Authenticator) Resolve(r *http.Request) (Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return Principal{}, ErrBadToken
		}
		return a.token(r, tok)
	}
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return Principal{}, ErrNoCredentials
	}
	s, ok := a.cfg.Sessions.Get(c.Value)
	if !ok {
		return Principal{}, ErrNoCredentials
	}
	// A revoked token ends the sessions it opened.
	if s.Principal.Name != adminTokenName {
		if _, err := a.cfg.Tokens.Token(s.Principal.Name); err != nil {
			a.cfg.Sessions.Delete(s.ID)
			return Principal{}, ErrNoCredentials
		}
	}
	if !safeMethod(r.Method) {
		got := r.Header.Get(CSRFHeader)
		if got == "" {
			got = r.PostFormValue(CSRFField)
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
			return Principal{}, ErrCSRF
		}
	}
	return s.Principal, nil
}

const adminTokenName = "FORGE_API_TOKEN"

// token checks a bearer token: FORGE_API_TOKEN, or one in the ledger.
// Wrong tokens count against the client's address.
func (a *Authenticator) token(r *http.Request, tok string) (Principal, error) {
	ip := clientIP(r)
	if !a.cfg.Limiter.Allow(ip) {
		return Principal{}, ErrRateLimited
	}
	if a.cfg.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.AdminToken)) == 1 {
		return Principal{Name: adminTokenName, Role: forge.RoleAdmin}, nil
	}
	if ValidShape(tok) {
		want := Hash(tok)
		toks, err := a.cfg.Tokens.Tokens()
		if err != nil {
			return Principal{}, err
		}
		for _, t := range toks {
			if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(want)) == 1 && t.Role.Valid() {
				return Principal{Name: t.Name, Role: t.Role}, nil
			}
		}
	}
	a.cfg.Limiter.Fail(ip)
	// The token itself is never logged: only where it came from.
	a.log.Warn("token refused", "remote", ip, "well_formed", ValidShape(tok))
	return Principal{}, ErrBadToken
}

// SignIn opens a browser session for a token presented at sign-in.
func (a *Authenticator) SignIn(r *http.Request, tok string) (Session, error) {
	p, err := a.token(r, strings.TrimSpace(tok))
	if err != nil {
		return Session{}, err
	}
	return a.cfg.Sessions.Create(p), nil
}

// SignOut ends the session r carries.
func (a *Authenticator) SignOut(r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		a.cfg.Sessions.Delete(c.Value)
	}
}

// Trusted resolves every request to an admin: the unix socket, whose file
// permissions are its authentication, as with the Docker socket.
type Trusted struct{}

// SocketName is the name of Trusted's principal.
const SocketName = "socket"

// Resolve answers admin.
func (Trusted) Resolve(*http.Request) (Principal, error) {
	return Principal{Name: SocketName, Role: forge.RoleAdmin}, nil
}

// Who is the name to record for a principal's deploys: the token's, or, on
// the socket, where the person is a local user, the user the CLI names.
func (p Principal) Who(claimed string) string {
	if p.Name == SocketName {
		return claimed
	}
	return p.Name
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// clientIP is the request's client: the peer, or the client a trusted
// proxy names (serve --trust-proxy), so clients behind one proxy are not
// limited as one.
func clientIP(r *http.Request) string {
	if a := expose.PeerOf(r).Addr; a.IsValid() {
		return a.String()
	}
	return r.RemoteAddr // no IP: a unix socket's peer
}
