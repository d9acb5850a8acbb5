package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/docker-forge/docker-forge/certs"
	"github.com/docker-forge/docker-forge/webhook"
)

// CertSource is the HTTPS certificate the daemon serves, for docker forge
// cert; certs.Files and certs.ACME are ones.
type CertSource interface {
	Info() (certs.Info, error)
}

// certRenewer is a source that can be made to renew now (ACME).
type certRenewer interface {
	Renew(ctx context.Context) error
}

// renewTimeout bounds a forced renewal: an order, its challenges, the
// download.
const renewTimeout = 2 * time.Minute

// RegisterCert adds GET /api/cert (what is served) and POST
// /api/cert/renew (an ACME renewal now) to r, the socket's router: the
// socket's permissions are the auth.
func RegisterCert(r *mux.Router, src CertSource, log *slog.Logger) {
	r.Handle("/api/cert", webhook.Handler(func(w http.ResponseWriter, _ *http.Request) error {
		info, err := src.Info()
		if err != nil {
			return webhook.Errorf(http.StatusServiceUnavailable, "%v", err)
		}
		return webhook.WriteJSON(w, http.StatusOK, info)
	})).Methods(http.MethodGet)
	r.Handle("/api/cert/renew", webhook.Handler(func(w http.ResponseWriter, req *http.Request) error {
		rn, ok := src.(certRenewer)
		if !ok {
			return webhook.Errorf(http.StatusConflict, "the certificate comes from --tls-cert/--tls-key: replace the files to renew it (they are reloaded on their own)")
		}
		ctx, cancel := context.WithTimeout(req.Context(), renewTimeout)
		defer cancel()
		if err := rn.Renew(ctx); err != nil {
			log.Error("certificate renewal", "error", err)
			return webhook.Errorf(http.StatusBadGateway, "%v", err)
		}
		info, err := src.Info()
		if err != nil {
			return webhook.Errorf(http.StatusServiceUnavailable, "%v", err)
		}
		return webhook.WriteJSON(w, http.StatusOK, info)
	})).Methods(http.MethodPost)
}

// Cert is what the daemon serves over HTTPS.
func (c *Client) Cert(ctx context.Context) (certs.Info, error) {
	var info certs.Info
	err := c.do(ctx, http.MethodGet, "/api/cert", nil, &info)
	return info, err
}

// RenewCert makes the daemon renew its ACME certificate now.
func (c *Client) RenewCert(ctx context.Context) (certs.Info, error) {
	var info certs.Info
	err := c.do(ctx, http.MethodPost, "/api/cert/renew", struct{}{}, &info)
	return info, err
}
