// Package webhook is docker-forge's HTTP listener for registry and forge
// pushes. Each provider file limits the body, checks the provider's own
// signature or token over the raw bytes, and turns the body into forge.Events
// with a pure parse function; the Server hands them to the dispatcher and
// answers at once. Deploys never run on the request's context.
package webhook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/expose"
)

// DefaultMaxBody is the largest webhook body accepted when Config.MaxBody is 0.
const DefaultMaxBody = 1 << 20

// Dispatcher is the part of the dispatcher the listener hands events to, so
// tests can pass a fake. Submit matches events to compose services and queues
// their deploys; ignored says why nothing was queued.
type Dispatcher interface {
	Submit(ctx context.Context, events []forge.Event) (queued []forge.QueuedDeploy, ignored string, err error)
}

// ReplayGuard remembers webhook deliveries, so a replayed one is refused;
// the ledger is the real one, and it survives restarts.
type ReplayGuard interface {
	// Claim records the keys naming one delivery, all or none, and reports
	// whether none was seen within window; the claim is durable when it
	// returns.
	Claim(keys []string, now time.Time, window time.Duration) (fresh bool, err error)
	// Release forgets keys, so the sender's retry is not refused.
	Release(keys []string) error
}

// DefaultReplayWindow is how long a delivery id is remembered when
// Config.ReplayWindow is 0.
const DefaultReplayWindow = 24 * time.Hour

// Config configures a Server.
type Config struct {
	// Secret is the shared webhook secret, the default for every provider.
	// Empty is only allowed together with AllowUnauthenticated.
	Secret string
	// Secrets overrides Secret per provider name.
	Secrets map[string]string
	// Replay refuses deliveries seen within ReplayWindow; nil accepts all.
	Replay       ReplayGuard
	ReplayWindow time.Duration
	// AllowUnauthenticated accepts hooks without any auth (local testing).
	AllowUnauthenticated bool
	// MaxBody caps a request body in bytes; 0 means DefaultMaxBody.
	MaxBody int64
	// MaxInFlight bounds the deliveries being queued at once; beyond it a
	// delivery is answered 503 with Retry-After at once. 0 means 256.
	MaxInFlight int
	Dispatcher  Dispatcher
	Logger      *slog.Logger
	// Registerer receives the listener's metrics; nil registers none.
	Registerer prometheus.Registerer
	// AllowFrom lists, per provider name, the only networks its webhooks
	// are taken from (checked before the body is read); a provider not
	// named takes them from anywhere.
	AllowFrom map[string][]netip.Prefix
}

// Server serves /hooks/{provider} and /healthz.
type Server struct {
	cfg       Config
	inflight  chan struct{}
	log       *slog.Logger
	providers map[string]provider
	requests  *prometheus.CounterVec
}

// provider is one registry's or forge's webhook dialect.
type provider struct {
	// auth checks the request's credentials over the raw body.
	auth authFunc
	// parse turns the body into events; ignored says why there are none.
	parse func(h http.Header, body []byte) (events []forge.Event, ignored string, err error)
	// untrusted marks providers that cannot sign their body: the digest
	// in their payload is never used, forge asks the registry.
	untrusted bool
	// deliveryHeader names the header carrying the provider's delivery id;
	// without one, a hash of the body stands in.
	deliveryHeader string
	// stampedBody marks bodies that differ for every push (Docker Hub's
	// pushed_at), so their hash names the delivery even without a digest.
	stampedBody bool
	// token marks providers that send the secret itself (a header or
	// ?token=), not a signature made with it: over plain HTTP it travels
	// in clear.
	token bool
}

// providers returns every provider this listener understands, by the name
// in /hooks/{provider}. Each provider file holds its parse function.
func providers() map[string]provider {
	return map[string]provider{
		// Registry pushes.
		"distribution": {auth: tokenAuth, token: true, parse: parseDistribution},
		"dockerhub":    {auth: queryTokenAuth, token: true, parse: parseDockerHub, untrusted: true, stampedBody: true},
		"ghcr":         {auth: hmacAuth("X-Hub-Signature-256", "sha256="), parse: parseGHCR, deliveryHeader: "X-GitHub-Delivery"},
		"harbor":       {auth: tokenAuth, token: true, parse: parseHarbor},
		"quay":         {auth: queryTokenAuth, token: true, parse: parseQuay, untrusted: true},
		"acr":          {auth: queryTokenAuth, token: true, parse: parseACR, untrusted: true},
		"generic":      {auth: hmacAuth("X-Forge-Signature-256", "sha256="), parse: parseGeneric, deliveryHeader: "X-Forge-Delivery"},
		// Git pushes.
		"github":    {auth: hmacAuth("X-Hub-Signature-256", "sha256="), parse: parseGitHub, deliveryHeader: "X-GitHub-Delivery"},
		"gitlab":    {auth: headerTokenAuth("X-Gitlab-Token"), token: true, parse: parseGitLab, deliveryHeader: "X-Gitlab-Event-UUID"},
		"gitea":     {auth: hmacAuth("X-Gitea-Signature", ""), parse: parseGitea, deliveryHeader: "X-Gitea-Delivery"},
		"forgejo":   {auth: hmacAuth("X-Forgejo-Signature", ""), parse: parseForgejo, deliveryHeader: "X-Forgejo-Delivery"},
		"gogs":      {auth: hmacAuth("X-Gogs-Signature", ""), parse: parseGogs, deliveryHeader: "X-Gogs-Delivery"},
		"bitbucket": {auth: hmacAuth("X-Hub-Signature", "sha256="), parse: parseBitbucket, deliveryHeader: "X-Request-UUID"},
	}
}

// New returns a Server. It checks that a secret is set unless unauthenticated
// hooks were asked for explicitly.
func New(cfg Config) (*Server, error) {
	if cfg.Secret == "" && !cfg.AllowUnauthenticated {
		for name := range providers() {
			if cfg.Secrets[name] == "" {
				return nil, fmt.Errorf("webhook: no secret configured for %s (and no default)", name)
			}
		}
	}
	for name := range cfg.Secrets {
		if _, ok := providers()[name]; !ok {
			return nil, fmt.Errorf("webhook: a secret is configured for unknown provider %q", name)
		}
	}
	for name := range cfg.AllowFrom {
		if _, ok := providers()[name]; !ok {
			return nil, fmt.Errorf("webhook: allow_from is configured for unknown provider %q", name)
		}
	}
	if cfg.ReplayWindow <= 0 {
		cfg.ReplayWindow = DefaultReplayWindow
	}
	if cfg.Dispatcher == nil {
		return nil, errors.New("webhook: no dispatcher")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "webhook"),
		providers: providers(),
		inflight:  make(chan struct{}, cmp.Or(cfg.MaxInFlight, 256)),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forge_webhook_requests_total",
			Help: "Webhook requests by provider and HTTP status.",
		}, []string{"provider", "status"}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(s.requests); err != nil {
			return nil, fmt.Errorf("webhook: register metrics: %w", err)
		}
	}
	return s, nil
}

// ProviderNames lists every provider name /hooks/{provider} takes, sorted.
func ProviderNames() []string {
	var names []string
	for n := range providers() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TokenProviders lists, sorted, the providers that send the webhook
// secret itself rather than a signature made with it.
func TokenProviders() []string {
	var names []string
	for n, p := range providers() {
		if p.token {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Providers lists the provider names this server understands.
func (s *Server) Providers() []string {
	names := make([]string, 0, len(s.providers))
	for n := range s.providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Register adds the listener's routes to r, and makes r answer unknown paths
// and methods with the same JSON errors as everything else.
func (s *Server) Register(r *mux.Router) {
	r.NotFoundHandler = Handler(func(_ http.ResponseWriter, req *http.Request) error {
		return Errorf(http.StatusNotFound, "no such endpoint %s", req.URL.Path)
	})
	r.MethodNotAllowedHandler = Handler(func(_ http.ResponseWriter, req *http.Request) error {
		return Errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s", req.Method, req.URL.Path)
	})
	r.Handle("/healthz", Handler(s.healthz)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/hooks/{provider}", Handler(s.hook)).Methods(http.MethodPost)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	return WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// answer is the JSON body of a hook response.
type answer struct {
	Events  []forge.Event        `json:"events"`
	Deploys []forge.QueuedDeploy `json:"deploys,omitempty"`
	Ignored string               `json:"ignored,omitempty"`
}

func (s *Server) hook(w http.ResponseWriter, r *http.Request) (err error) {
	name := mux.Vars(r)["provider"]
	status := http.StatusOK
	defer func() {
		if err != nil {
			status = StatusOf(err)
		}
		if _, known := s.providers[name]; !known {
			name = "unknown" // keep metric labels bounded
		}
		s.requests.WithLabelValues(name, fmt.Sprint(status)).Inc()
	}()
	p, ok := s.providers[name]
	if !ok {
		return Errorf(http.StatusNotFound, "unknown provider %q (supported: %s)", name, strings.Join(s.Providers(), ", "))
	}
	// Before the body is read: a source outside the allowlist costs one
	// answer, never the upload of its body.
	// The daemon's unix socket is local: its permissions are the auth.
	if nets, limited := s.cfg.AllowFrom[name]; limited {
		if from := expose.PeerOf(r); !from.Local && !expose.Contains(nets, from.Addr) {
			s.log.Warn("webhook refused: source outside allow_from", "provider", name, "remote", from.Addr.String())
			w.Header().Set("Connection", "close")
			return Errorf(http.StatusForbidden, "%s webhooks are not taken from %s (allow_from)", name, from.Addr)
		}
	}
	select {
	case s.inflight <- struct{}{}:
		defer func() { <-s.inflight }()
	default:
		return Errorf(http.StatusServiceUnavailable, "too many deliveries in progress; retry later")
	}
	body, err := readBody(w, r, s.cfg.MaxBody)
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			return Errorf(http.StatusRequestEntityTooLarge, "body over the limit of %d bytes", s.cfg.MaxBody)
		}
		return Errorf(http.StatusBadRequest, "read body: %v", err)
	}
	if secret := s.secret(name); secret != "" || !s.cfg.AllowUnauthenticated {
		if err := p.auth(r, body, secret); err != nil {
			s.log.Warn("webhook rejected", "provider", name, "reason", err.Error(), "remote", expose.PeerOf(r).Addr.String())
			return Errorf(http.StatusUnauthorized, "%v", err)
		}
	}
	events, ignored, err := p.parse(r.Header, body)
	if err != nil {
		return Errorf(http.StatusBadRequest, "malformed %s payload: %v", name, err)
	}
	if len(events) == 0 {
		s.log.Debug("webhook ignored", "provider", name, "reason", ignored)
		return WriteJSON(w, http.StatusOK, answer{Events: []forge.Event{}, Ignored: ignored})
	}
	keys, id := replayKeys(name, p, r.Header, body, events)
	for i := range events {
		if p.untrusted {
			events[i].Digest = "" // an unsigned body cannot vouch for a digest
		}
		if events[i].Delivery == "" {
			events[i].Delivery = id
		}
	}
	fresh, err := s.claim(keys)
	if err != nil {
		s.log.Error("replay guard", "provider", name, "error", err)
		return Errorf(http.StatusServiceUnavailable, "events not queued: the ledger is unavailable; retry later")
	}
	if !fresh {
		s.log.Info("webhook duplicate refused", "provider", name, "delivery", events[0].Delivery)
		return WriteJSON(w, http.StatusOK, answer{Events: []forge.Event{}, Ignored: "duplicate delivery"})
	}
	status, err = s.submit(w, r, name, keys, events)
	return err
}

// submit hands the events to the dispatcher and answers. A delivery that
// could not be queued is released, so the sender's retry is accepted.
func (s *Server) submit(w http.ResponseWriter, r *http.Request, name string, keys []string, events []forge.Event) (int, error) {
	// The request's context only bounds matching and queueing; the deploys
	// themselves run on the daemon's context.
	queued, ignored, err := s.cfg.Dispatcher.Submit(r.Context(), events)
	if err != nil {
		s.release(keys)
		s.log.Error("webhook events not queued", "provider", name, "events", len(events), "error", err)
		return 0, Errorf(http.StatusServiceUnavailable, "events not queued: the deploy queue is full or the ledger unavailable; retry later")
	}
	for _, e := range events {
		s.log.Info("webhook event", "provider", name, "kind", string(e.Kind), "repository", e.Repository,
			"tag", e.Tag, "ref", e.Ref, "digest", e.Digest, "commit", e.Commit, "delivery", e.Delivery)
	}
	if len(queued) == 0 {
		// "Why did my push not deploy?" is answered in the log too.
		s.log.Info("webhook: nothing to deploy", "provider", name, "reason", printable(ignored, 512))
		return http.StatusOK, WriteJSON(w, http.StatusOK, answer{Events: events, Deploys: []forge.QueuedDeploy{}, Ignored: ignored})
	}
	return http.StatusAccepted, WriteJSON(w, http.StatusAccepted, answer{Events: events, Deploys: queued})
}

// readBody reads at most limit bytes of the request body, in one allocation
// when the sender said how long it is.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, limit)
	if n := r.ContentLength; n >= 0 && n <= limit {
		buf := bytes.NewBuffer(make([]byte, 0, n+1))
		_, err := buf.ReadFrom(rd)
		return buf.Bytes(), err
	}
	return io.ReadAll(rd)
}

// secret returns the secret a provider's requests are checked against.
func (s *Server) secret(provider string) string {
	if v := s.cfg.Secrets[provider]; v != "" {
		return v
	}
	return s.cfg.Secret
}

// claim records every key of a delivery, at once: it is fresh only when
// none was seen within the window.
func (s *Server) claim(keys []string) (bool, error) {
	if s.cfg.Replay == nil {
		return true, nil
	}
	return s.cfg.Replay.Claim(keys, time.Now(), s.cfg.ReplayWindow)
}

// release forgets keys, so the sender's retry of a delivery that could not be
// queued is accepted.
func (s *Server) release(keys []string) {
	if s.cfg.Replay == nil {
		return
	}
	if err := s.cfg.Replay.Release(keys); err != nil {
		s.log.Error("replay guard", "error", err)
	}
}

// replayKeys names a delivery for the replay guard, and returns the id the
// events carry. The provider's delivery header names it, but that header is
// not signed: a captured request resent under a new id must still be
// refused, so the body's hash is claimed too. Neither guards a body that
// cannot be told from a new push of the same tag: one with neither a
// delivery id nor a digest (a generic push without X-Forge-Delivery, a Quay
// notification) means "the tag moved" each time it is sent. Such a replay is
// harmless: forge asks the registry what the tag points at, and a service
// already running it is not recreated.
func replayKeys(name string, p provider, h http.Header, body []byte, events []forge.Event) ([]string, string) {
	var keys []string
	id := ""
	if p.deliveryHeader != "" {
		if v := cleanDelivery(h.Get(p.deliveryHeader)); v != "" {
			id = v
			keys = append(keys, name+":"+v)
		}
	}
	distinct := p.stampedBody
	for _, e := range events {
		if (e.Digest != "" && !p.untrusted) || (e.Delivery != "" && name != "generic") || e.Commit != "" {
			distinct = true
		}
	}
	hash := bodyHash(body)
	if distinct {
		keys = append(keys, name+":"+hash)
	}
	if id == "" {
		id = hash
	}
	return keys, id
}

func bodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:16])
}
