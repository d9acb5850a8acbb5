package cliplugin

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/certs"
	"github.com/docker-forge/docker-forge/expose"
	"github.com/docker-forge/docker-forge/webhook"
)

// exposeOptions are serve's flags for facing a network: HTTPS, the plain
// listener that redirects, trusted proxies, /metrics' token, timeouts.
type exposeOptions struct {
	tlsCert, tlsKey string
	acmeDomains     []string
	acmeEmail       string
	acmeCA          string
	acmeCARoot      string
	httpAddr        string
	trustProxy      []string
	metricsToken    string
	headerTimeout   time.Duration
	readTimeout     time.Duration
}

func (o *exposeOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.tlsCert, "tls-cert", os.Getenv("FORGE_TLS_CERT"), "serve HTTPS on --addr with the certificate in this PEM `FILE` (full chain), reloaded when it changes ($FORGE_TLS_CERT)")
	f.StringVar(&o.tlsKey, "tls-key", os.Getenv("FORGE_TLS_KEY"), "the private key of --tls-cert, a PEM `FILE`, reloaded with it ($FORGE_TLS_KEY)")
	f.StringArrayVar(&o.acmeDomains, "acme-domain", splitList(os.Getenv("FORGE_ACME_DOMAIN")), "serve HTTPS on --addr with a certificate for this `NAME` from an ACME CA (Let's Encrypt by default), obtained and renewed on its own and kept in --data-dir; the CA must reach --addr on port 443, or --http-addr on port 80 (repeatable; $FORGE_ACME_DOMAIN)")
	f.StringVar(&o.acmeEmail, "acme-email", os.Getenv("FORGE_ACME_EMAIL"), "e-mail address the ACME CA may write to about the certificates ($FORGE_ACME_EMAIL)")
	f.StringVar(&o.acmeCA, "acme-ca", os.Getenv("FORGE_ACME_CA"), "ACME directory `URL` of another CA (step-ca, Pebble, Let's Encrypt staging) ($FORGE_ACME_CA)")
	f.StringVar(&o.acmeCARoot, "acme-ca-root", os.Getenv("FORGE_ACME_CA_ROOT"), "PEM `FILE` of the root that the --acme-ca directory's own HTTPS certificate chains to, for a private CA ($FORGE_ACME_CA_ROOT)")
	f.StringVar(&o.httpAddr, "http-addr", os.Getenv("FORGE_HTTP_ADDR"), "with HTTPS, also listen for plain HTTP on this `ADDRESS`: it only redirects pages to HTTPS, refuses the API and webhooks, and answers ACME HTTP-01 challenges ($FORGE_HTTP_ADDR)")
	f.StringArrayVar(&o.trustProxy, "trust-proxy", splitList(os.Getenv("FORGE_TRUST_PROXY")), "believe X-Forwarded-For and X-Forwarded-Proto from reverse proxies in this `CIDR` (repeatable; off by default; $FORGE_TRUST_PROXY)")
	f.StringVar(&o.metricsToken, "metrics-token", "", "require \"Authorization: Bearer TOKEN\" on /metrics ($FORGE_METRICS_TOKEN, which keeps it out of process listings)")
	f.DurationVar(&o.headerTimeout, "header-timeout", 10*time.Second, "how long a client may take to send a request's headers (against slow clients holding connections)")
	f.DurationVar(&o.readTimeout, "read-timeout", time.Minute, "how long a client may take to send a whole request, headers and body")
}

// splitList reads a list from the environment: commas or spaces.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
}

// exposure is what the flags make of serve's TCP side.
type exposure struct {
	files    *certs.Files
	acme     *certs.ACME
	trusted  []netip.Prefix
	tls      *tls.Config // nil: plain HTTP
	httpAddr string
	// publicURL is where people reach the dashboard (--public-url): the
	// plain listener redirects to its port.
	publicURL string
}

// close stops what build started (certmagic's maintenance).
func (x *exposure) close() {
	if x.acme != nil {
		x.acme.Close()
	}
}

// httpsPort is the port the plain listener sends browsers to: the one in
// --public-url when it is an https URL (a port mapping may put the
// listener elsewhere), or the HTTPS listener's own.
func (x *exposure) httpsPort(listening string) string {
	if u, err := url.Parse(x.publicURL); err == nil && u.Scheme == "https" && u.Host != "" {
		if p := u.Port(); p != "" {
			return p
		}
		return "443"
	}
	_, port, _ := net.SplitHostPort(listening)
	return port
}

// httpErrorLog is the HTTP servers' own log: a failed TLS handshake (a
// scanner, a client that does not trust the certificate) at debug, the
// rest (a handler's panic, an accept error) as warnings.
func httpErrorLog(log *slog.Logger) *stdlog.Logger {
	return stdlog.New(httpLogWriter{log: log.With("component", "http")}, "", 0)
}

type httpLogWriter struct{ log *slog.Logger }

func (w httpLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.Contains(msg, "TLS handshake error") {
		w.log.Debug(msg)
	} else {
		w.log.Warn(msg)
	}
	return len(p), nil
}

// https reports whether --addr serves HTTPS.
func (x *exposure) https() bool { return x.tls != nil }

// cert is what docker forge cert reports on; nil without HTTPS.
func (x *exposure) cert() api.CertSource {
	switch {
	case x.acme != nil:
		return x.acme
	case x.files != nil:
		return x.files
	}
	return nil
}

func (o *exposeOptions) build(addr, dataDir string, log *slog.Logger) (*exposure, error) {
	if o.metricsToken == "" {
		o.metricsToken = os.Getenv("FORGE_METRICS_TOKEN")
	}
	if o.headerTimeout <= 0 || o.readTimeout <= 0 {
		return nil, errors.New("--header-timeout and --read-timeout must be positive")
	}
	x := &exposure{httpAddr: o.httpAddr}
	var err error
	if x.trusted, err = expose.ParsePrefixes("--trust-proxy", o.trustProxy); err != nil {
		return nil, err
	}
	files := o.tlsCert != "" || o.tlsKey != ""
	switch {
	case files && len(o.acmeDomains) > 0:
		return nil, errors.New("--tls-cert/--tls-key and --acme-domain both name where the certificate comes from: give one")
	case files && (o.tlsCert == "" || o.tlsKey == ""):
		return nil, errors.New("--tls-cert and --tls-key go together: give both files")
	case !files && len(o.acmeDomains) == 0 && o.httpAddr != "":
		return nil, errors.New("--http-addr redirects to HTTPS: it needs --tls-cert/--tls-key or --acme-domain")
	case !files && len(o.acmeDomains) == 0 && (o.acmeEmail != "" || o.acmeCA != "" || o.acmeCARoot != ""):
		return nil, errors.New("--acme-email, --acme-ca and --acme-ca-root need --acme-domain")
	case files:
		if x.files, err = certs.NewFiles(o.tlsCert, o.tlsKey, log); err != nil {
			return nil, err
		}
		x.tls = x.files.TLSConfig()
	case len(o.acmeDomains) > 0:
		if x.acme, err = o.newACME(addr, dataDir, log); err != nil {
			return nil, err
		}
		x.tls = x.acme.TLSConfig()
	}
	return x, nil
}

func (o *exposeOptions) newACME(addr, dataDir string, log *slog.Logger) (*certs.ACME, error) {
	cfg := certs.ACMEConfig{
		Domains: o.acmeDomains, Email: o.acmeEmail, CA: o.acmeCA, Dir: certs.StorageDir(dataDir),
		HTTPChallenge: o.httpAddr != "", Logger: log,
	}
	if o.acmeCARoot != "" {
		pem, err := os.ReadFile(o.acmeCARoot)
		if err != nil {
			return nil, fmt.Errorf("--acme-ca-root: %w", err)
		}
		cfg.Roots = x509.NewCertPool()
		if !cfg.Roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--acme-ca-root: no PEM certificate in %s", o.acmeCARoot)
		}
	}
	var err error
	if cfg.ListenHost, cfg.TLSPort, err = hostPort(addr); err != nil {
		return nil, fmt.Errorf("--addr: %w", err)
	}
	if o.httpAddr != "" {
		if _, cfg.HTTPPort, err = hostPort(o.httpAddr); err != nil {
			return nil, fmt.Errorf("--http-addr: %w", err)
		}
	}
	return certs.NewACME(cfg)
}

func hostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return host, port, nil
}

// warn says what a plain listener reachable from other machines carries in
// clear.
func (x *exposure) warn(addr string, log *slog.Logger) {
	if x.https() || expose.IsLoopback(addr) {
		return
	}
	log.Warn("serving plain HTTP on an address other machines can reach: the webhook secret travels in clear with every "+
		strings.Join(webhook.TokenProviders(), ", ")+" webhook, and so do API tokens and dashboard sessions; "+
		"serve HTTPS with --tls-cert/--tls-key or --acme-domain, or put a reverse proxy that does in front (README: Exposing docker-forge)",
		"addr", addr)
}

// metrics guards /metrics with the token, when one is set.
func metricsGuard(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return webhook.Handler(func(w http.ResponseWriter, r *http.Request) error {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="docker-forge metrics"`)
			return webhook.Errorf(http.StatusUnauthorized, "/metrics needs the metrics token: Authorization: Bearer TOKEN")
		}
		next.ServeHTTP(w, r)
		return nil
	})
}
