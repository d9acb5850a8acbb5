package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	"github.com/gorilla/mux"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/auth"
	"github.com/docker-forge/docker-forge/ledger"
	"github.com/docker-forge/docker-forge/webhook"
)

// NewToken is a token just made: the only time its secret is shown.
type NewToken struct {
	forge.Token
	Secret string `json:"token"`
}

// TokenBody is the body of POST /api/tokens.
type TokenBody struct {
	Name string     `json:"name"`
	Role forge.Role `json:"role"`
}

// tokenName is what a token may be called: it shows in logs and listings.
var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ErrBadTokenRequest is a token name or role that cannot be.
var ErrBadTokenRequest = errors.New("bad token request")

// CreateToken makes a random token with the role, stores its hash, and
// returns it.
func (l *Local) CreateToken(_ context.Context, name string, role forge.Role) (NewToken, error) {
	if err := checkToken(name, role); err != nil {
		return NewToken{}, err
	}
	secret, hash := auth.NewToken()
	t := forge.Token{Name: name, Role: role, Hash: hash, Created: l.now().UTC()}
	if err := l.Ledger.CreateToken(t); err != nil {
		return NewToken{}, err
	}
	return NewToken{Token: t, Secret: secret}, nil
}

func checkToken(name string, role forge.Role) error {
	if !tokenName.MatchString(name) {
		return fmt.Errorf("%w: token name %q: want 1 to 64 letters, digits, '.', '_', '@' or '-'", ErrBadTokenRequest, name)
	}
	if !role.Valid() {
		return fmt.Errorf("%w: role %q: want admin or viewer", ErrBadTokenRequest, role)
	}
	return nil
}

// Tokens lists the tokens, without their secrets.
func (l *Local) Tokens(context.Context) ([]forge.Token, error) { return l.Ledger.Tokens() }

// RevokeToken deletes a token; the browser sessions it opened end with it.
func (l *Local) RevokeToken(_ context.Context, name string) error { return l.Ledger.RevokeToken(name) }

func (h *handlers) tokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := h.b.Tokens(r.Context())
	if err != nil {
		return h.fail(err)
	}
	return webhook.WriteJSON(w, http.StatusOK, ts)
}

func (h *handlers) createToken(w http.ResponseWriter, r *http.Request) error {
	var body TokenBody
	if err := decode(r, &body); err != nil {
		return err
	}
	t, err := h.b.CreateToken(r.Context(), body.Name, body.Role)
	if err != nil {
		return h.fail(err)
	}
	p, _ := auth.FromContext(r.Context())
	h.log.Info("token created", "token", t.Name, "role", string(t.Role), "by", p.Name)
	return webhook.WriteJSON(w, http.StatusOK, t)
}

func (h *handlers) revokeToken(w http.ResponseWriter, r *http.Request) error {
	name := mux.Vars(r)["name"]
	if err := h.b.RevokeToken(r.Context(), name); err != nil {
		return h.fail(err)
	}
	p, _ := auth.FromContext(r.Context())
	h.log.Info("token revoked", "token", name, "by", p.Name)
	return webhook.WriteJSON(w, http.StatusOK, map[string]string{"revoked": name})
}

// CreateToken asks the daemon for a new token.
func (c *Client) CreateToken(ctx context.Context, name string, role forge.Role) (NewToken, error) {
	var t NewToken
	err := c.do(ctx, http.MethodPost, "/api/tokens", TokenBody{Name: name, Role: role}, &t)
	return t, err
}

// Tokens lists the daemon's tokens.
func (c *Client) Tokens(ctx context.Context) ([]forge.Token, error) {
	var ts []forge.Token
	err := c.do(ctx, http.MethodGet, "/api/tokens", nil, &ts)
	return ts, err
}

// RevokeToken asks the daemon to delete a token.
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	var out map[string]string
	return c.do(ctx, http.MethodDelete, "/api/tokens/"+url.PathEscape(name), nil, &out)
}

// tokenErrorStatus maps the token errors to statuses for fail.
func tokenErrorStatus(err error) (int, bool) {
	switch {
	case errors.Is(err, ErrBadTokenRequest):
		return http.StatusBadRequest, true
	case errors.Is(err, ledger.ErrTokenExists):
		return http.StatusConflict, true
	case errors.Is(err, ledger.ErrNoToken):
		return http.StatusNotFound, true
	}
	return 0, false
}
