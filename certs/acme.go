package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
)

// ACMEConfig configures certificates from an ACME CA.
type ACMEConfig struct {
	// Domains are the names the certificate is for; each must reach this
	// listener from the CA (on port 443 for TLS-ALPN-01, 80 for HTTP-01).
	Domains []string
	// Email is given to the CA for expiry notices; optional.
	Email string
	// CA is the ACME directory URL (default Let's Encrypt's production).
	CA string
	// Roots are trusted for the CA's own HTTPS (a private CA: step-ca,
	// Pebble); nil means the system's.
	Roots *x509.CertPool
	// Dir holds the account and certificates (<data-dir>/acme).
	Dir string
	// HTTPChallenge answers HTTP-01 on the plain listener (Redirect's acme);
	// without it only TLS-ALPN-01, on the HTTPS listener itself.
	HTTPChallenge bool
	// ListenHost, TLSPort and HTTPPort are where this daemon's listeners
	// are, so certmagic leaves the challenges to them instead of opening
	// its own challenge servers.
	ListenHost        string
	TLSPort, HTTPPort int
	Logger            *slog.Logger
}

// ACME serves certificates obtained from an ACME CA and renewed by
// certmagic in the background.
type ACME struct {
	cfg    ACMEConfig
	stop   sync.Once
	cache  *certmagic.Cache
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
	log    *slog.Logger
}

// NewACME prepares the manager, and starts certmagic's maintenance: Close
// stops it. Start obtains or loads the certificates once the listener
// answers (a TLS-ALPN-01 challenge comes to it).
func NewACME(cfg ACMEConfig) (*ACME, error) {
	if len(cfg.Domains) == 0 {
		return nil, errors.New("acme: no domain")
	}
	for _, d := range cfg.Domains {
		switch {
		case !certmagic.SubjectQualifiesForCert(d):
			return nil, fmt.Errorf("acme: %q is not a name a certificate can be issued for", d)
		case strings.Contains(d, "*"):
			return nil, fmt.Errorf("acme: %q: a wildcard needs the DNS-01 challenge, which forge does not answer; name each host", d)
		case cfg.CA == "" && !certmagic.SubjectQualifiesForPublicCert(d):
			return nil, fmt.Errorf("acme: %q is an internal name or an address, which a public CA does not certify (a private CA can: --acme-ca)", d)
		}
	}
	if cfg.CA == "" {
		cfg.CA = certmagic.LetsEncryptProductionCA
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &ACME{cfg: cfg, log: cfg.Logger.With("component", "acme")}
	zl := newZap(a.log)
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return a.magic, nil },
		Logger:           zl,
	})
	a.magic = certmagic.New(a.cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: cfg.Dir},
		Logger:  zl,
	})
	a.issuer = certmagic.NewACMEIssuer(a.magic, certmagic.ACMEIssuer{
		CA: cfg.CA, Email: cfg.Email, Agreed: true, TrustedRoots: cfg.Roots,
		DisableHTTPChallenge: !cfg.HTTPChallenge,
		// Challenges are answered by this daemon's listeners: certmagic
		// finds their ports taken and leaves the answering to them.
		ListenHost: cfg.ListenHost, AltHTTPPort: cfg.HTTPPort, AltTLSALPNPort: cfg.TLSPort,
		Logger: zl,
	})
	a.magic.Issuers = []certmagic.Issuer{a.issuer}
	return a, nil
}

// Start loads the certificates kept in Dir, or obtains them, in the
// background, and keeps them renewed until ctx ends.
func (a *ACME) Start(ctx context.Context) error {
	if err := a.magic.ManageAsync(ctx, a.cfg.Domains); err != nil {
		return fmt.Errorf("acme: manage %v: %w", a.cfg.Domains, err)
	}
	context.AfterFunc(ctx, a.Close)
	return nil
}

// Close stops certmagic's maintenance (renewals) of the certificates.
func (a *ACME) Close() {
	a.stop.Do(a.cache.Stop)
}

// TLSConfig is the listener's configuration: certmagic's certificates, and
// the TLS-ALPN-01 challenge's protocol next to HTTP's.
func (a *ACME) TLSConfig() *tls.Config {
	c := a.magic.TLSConfig()
	c.MinVersion = MinVersion
	c.NextProtos = []string{"http/1.1", acmez.ACMETLS1Protocol} // HTTP/1.1 only: see serve
	return c
}

// HTTPChallenge wraps the plain listener's handler so it answers HTTP-01
// challenges; nil when that challenge is off.
func (a *ACME) HTTPChallenge() func(http.Handler) http.Handler {
	if !a.cfg.HTTPChallenge {
		return nil
	}
	return a.issuer.HTTPChallengeHandler
}

// Renew obtains a new certificate for every domain now, whatever the old
// one's expiry, and serves it in place of the old.
func (a *ACME) Renew(ctx context.Context) error {
	for _, d := range a.cfg.Domains {
		old := a.cache.AllMatchingCertificates(d)
		if err := a.magic.RenewCertSync(ctx, d, true); err != nil {
			return fmt.Errorf("acme: renew %s: %w", d, err)
		}
		cert, err := a.magic.CacheManagedCertificate(ctx, d)
		if err != nil {
			return fmt.Errorf("acme: load the renewed certificate of %s: %w", d, err)
		}
		var stale []string
		for _, c := range old {
			if c.Hash() != cert.Hash() {
				stale = append(stale, c.Hash())
			}
		}
		a.cache.Remove(stale)
		a.log.Info("certificate renewed", "domain", d, "not_after", cert.Leaf.NotAfter)
	}
	return nil
}

// Info describes the certificate served for the first domain now.
func (a *ACME) Info() (Info, error) {
	d := a.cfg.Domains[0]
	certs := a.cache.AllMatchingCertificates(d)
	if len(certs) == 0 {
		return Info{Source: "acme", Names: slices.Clone(a.cfg.Domains)}, fmt.Errorf("acme: no certificate for %s yet (obtaining it, or the CA refused: see the daemon's log)", d)
	}
	c := certs[len(certs)-1]
	return describe("acme", c.Leaf, time.Time{}), nil
}

// StorageDir is where certificates are kept below the data dir.
func StorageDir(dataDir string) string { return filepath.Join(dataDir, "acme") }
