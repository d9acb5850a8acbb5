package cliplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/auth"
	"github.com/docker-forge/docker-forge/collector"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/engine"
	"github.com/docker-forge/docker-forge/expose"
	"github.com/docker-forge/docker-forge/gitsrc"
	"github.com/docker-forge/docker-forge/ledger"
	"github.com/docker-forge/docker-forge/memtrim"
	"github.com/docker-forge/docker-forge/notify"
	"github.com/docker-forge/docker-forge/poll"
	"github.com/docker-forge/docker-forge/registry"
	"github.com/docker-forge/docker-forge/snapshot"
	"github.com/docker-forge/docker-forge/web"
	"github.com/docker-forge/docker-forge/webhook"
)

// trimDelay is how long after start serve gives back start-up memory.
const trimDelay = 5 * time.Second

// DefaultAddr is where serve listens for webhooks by default.
const DefaultAddr = "127.0.0.1:9470"

type serveOptions struct {
	addr                 string
	allowUnauthenticated bool
	keep                 int
	maxBody              int64
	shutdownTimeout      time.Duration
	replayWindow         time.Duration
	replayWindowSet      bool
	config               string
	pollRefresh          string
	healthTimeout        time.Duration
	settle               time.Duration
	maxQueued            int
	keepImages           int
	statsSchedule        string
	statsRetention       collector.Retention
	viewerLogs           bool
	notify               notifyOptions
	expose               exposeOptions
	trimMemory           bool
}

func newServeCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [OPTIONS]",
		Short: "Run the daemon: receive push webhooks and deploy the services they concern",
		Long: `Run docker-forge's daemon in the foreground: it listens for registry webhooks
on --addr (POST /hooks/distribution, POST /hooks/generic), redeploys the
compose services that use a pushed image, pinned to its digest, and records
every deploy in the ledger in --data-dir. It also samples the CPU, memory,
network and I/O of every compose container on --stats-schedule and keeps that
history, summed per project and service, in the same ledger (see "docker
forge stats" and "docker forge top"). The CLI's other commands talk to it over
the socket in --data-dir while it runs.

The webhook secret comes from FORGE_WEBHOOK_SECRET; serve refuses to start
without one unless --allow-unauthenticated is given (local testing only).

Endpoints: /healthz, /metrics (Prometheus), /hooks/{provider}, the JSON API
/api/ (on the socket for the CLI; on --addr for a token made with "docker
forge token create", sent as "Authorization: Bearer TOKEN", or
FORGE_API_TOKEN, an admin's), and the dashboard at / (sign in with a token).

It serves plain HTTP by default, which is for loopback or behind a reverse
proxy (--trust-proxy); to face a network it serves HTTPS itself, with
certificate files (--tls-cert, --tls-key; reloaded when they change) or
certificates from an ACME CA (--acme-domain; Let's Encrypt by default), and
--http-addr adds a plain listener that only redirects. See the README's
"Exposing docker-forge".

With --context, once per engine, it drives several Docker engines named in the
docker CLI's context store ("docker context ls": unix, tcp with TLS and ssh
endpoints), each with its own deploy queue, stats and polls, in one ledger
(default: the current context). A push deploys on every engine that runs a
service it concerns; an engine that is down keeps its deploys queued until it
is back, and holds back no other. On a swarm manager, stacks are projects too.
The other commands name the engine they act on with --context.

With --notify (or $FORGE_NOTIFY) it tells notification channels what each
deploy did (see "docker forge notify --help"); messages wait in the ledger
until their channel takes them, so a channel that is down never holds back a
deploy and loses nothing across a restart.`,
		Example: `  FORGE_WEBHOOK_SECRET=$(openssl rand -hex 32) docker forge serve
  docker-forge serve --addr :443 --http-addr :80 --acme-domain forge.example.com --data-dir /var/lib/docker-forge
  docker forge serve --addr 0.0.0.0:8443 --tls-cert fullchain.pem --tls-key privkey.pem
  docker forge serve --context default --context edge   # edge: docker context create edge --docker host=ssh://deploy@edge.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.replayWindowSet = cmd.Flags().Changed("replay-window")
			return runServe(cmd.Context(), dockerCli, g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", envOr("FORGE_ADDR", DefaultAddr), "address to listen on for webhooks ($FORGE_ADDR)")
	f.BoolVar(&o.allowUnauthenticated, "allow-unauthenticated", false, "accept webhooks without a secret (local testing only: anyone who reaches --addr can trigger deploys)")
	f.IntVar(&o.keep, "keep", ledger.DefaultKeep, "deploys kept per project in the ledger; older ones are pruned")
	f.Int64Var(&o.maxBody, "max-body", webhook.DefaultMaxBody, "largest webhook body accepted, in bytes")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a stop waits for a running deploy")
	f.DurationVar(&o.replayWindow, "replay-window", webhook.DefaultReplayWindow, "how long a webhook delivery id is refused as a duplicate (overrides the config file)")
	f.DurationVar(&o.healthTimeout, "health-timeout", dispatch.DefaultHealthTimeout, "how long a deployed service may take to become healthy (forge.health-timeout overrides it per service)")
	f.DurationVar(&o.settle, "settle", dispatch.DefaultSettle, "how long a service without a healthcheck must stay running to pass the health gate (forge.settle)")
	f.IntVar(&o.maxQueued, "max-queued", 1024, "projects that may wait for a deploy at once; past it webhooks are answered 503")
	f.StringVar(&o.pollRefresh, "poll-refresh", poll.DefaultRefresh, "how often to re-read which services carry a forge.poll schedule (a cron spec)")
	f.IntVar(&o.keepImages, "keep-images", dispatch.DefaultKeepImages, "deploys per project whose built images are kept (git builds, deploy --build); older ones are removed (a git rollback to them builds again)")
	f.StringVar(&o.statsSchedule, "stats-schedule", collector.DefaultSchedule, `when to sample every compose container's CPU, memory, network and I/O (a cron spec such as "@every 30s" or "*/1 * * * *"; "off" disables it)`)
	f.DurationVar(&o.statsRetention.Raw, "stats-keep-raw", collector.DefaultRetention.Raw, "how long stats samples are kept")
	f.DurationVar(&o.statsRetention.Minute, "stats-keep-minute", collector.DefaultRetention.Minute, "how long 1-minute stats rollups (average and max) are kept")
	f.DurationVar(&o.statsRetention.Hour, "stats-keep-hour", collector.DefaultRetention.Hour, "how long 1-hour stats rollups (average and max) are kept")
	f.StringVar(&o.config, "config", "", "config file with per-provider secrets (default <data-dir>/config.yaml, if present)")
	f.BoolVar(&o.viewerLogs, "viewer-logs", false, "let viewer tokens read containers' logs too (logs can carry secrets: by default only admins read them)")
	o.notify.flags(f)
	o.expose.flags(f)
	f.BoolVar(&o.trimMemory, "trim-memory", true, "5 s after start, give back the memory start-up touched (idle RSS about half); the first deploy then reads some of the program from disk again (--trim-memory=false keeps it)")
	return cmd
}

func runServe(ctx context.Context, dockerCli command.Cli, g *globalOptions, o *serveOptions) error {
	if g.logLevel == "" {
		g.logLevel = "info"
	}
	log, err := g.logger(dockerCli.Err())
	if err != nil {
		return err
	}
	path, explicit := g.configPath(o.config)
	secrets, err := loadSecrets(path, explicit)
	if err != nil {
		return err
	}
	secret := secrets.Default
	if secret == "" && !o.allowUnauthenticated && !secrets.coversAll() {
		return errors.New("no webhook secret: set FORGE_WEBHOOK_SECRET (for example to the output of `openssl rand -hex 32`) or FORGE_WEBHOOK_SECRET_FILE, or secret_file in the config file; or pass --allow-unauthenticated for local testing only")
	}
	if secrets.ReplayWindow > 0 && !o.replayWindowSet {
		o.replayWindow = secrets.ReplayWindow
	}
	if secret == "" {
		log.Warn("webhooks are NOT authenticated (--allow-unauthenticated): anyone who can reach the address can trigger deploys", "addr", o.addr)
	}
	if err := os.MkdirAll(g.dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	x, err := o.expose.build(o.addr, g.dataDir, log)
	if err != nil {
		return err
	}
	defer x.close()
	x.warn(o.addr, log)
	// A ledger written before projects were keyed by engine belongs to the
	// engine forge drove then: the current context.
	led, err := ledger.Open(g.ledgerPath(), ledger.Options{Timeout: time.Second, Keep: o.keep, Engine: dockerCli.CurrentContext()})
	if errors.Is(err, ledger.ErrLocked) {
		return fmt.Errorf("another docker forge process holds %s: is a daemon already running with this --data-dir?", g.ledgerPath())
	}
	if err != nil {
		return err
	}
	defer led.Close()
	if o.notify.publicURL != "" {
		x.publicURL = o.notify.publicURL
	}
	d, err := newDaemon(ctx, dockerCli, led, secrets, o, g, x, log)
	if err != nil {
		return err
	}
	ls, err := listen(ctx, o.addr, x.httpAddr, g.socketPath())
	if err != nil {
		return err
	}
	defer os.Remove(g.socketPath())
	scheme := "http"
	if x.https() {
		scheme = "https"
	}
	log.Info("docker-forge serving", "addr", ls.tcp.Addr().String(), "scheme", scheme, "socket", g.socketPath(), "data_dir", g.dataDir,
		"engines", d.engines.Names(), "providers", d.hooks.Providers())
	return d.serve(ctx, ls, o.shutdownTimeout)
}

// listeners are serve's: the TCP address, the optional plain one that
// redirects, the socket.
type listeners struct {
	tcp, plain, sock net.Listener
}

func listen(ctx context.Context, addr, httpAddr, socket string) (listeners, error) {
	var ls listeners
	var err error
	if ls.tcp, err = net.Listen("tcp", addr); err != nil {
		return ls, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if httpAddr != "" {
		if ls.plain, err = net.Listen("tcp", httpAddr); err != nil {
			_ = ls.tcp.Close()
			return ls, fmt.Errorf("listen on --http-addr %s: %w", httpAddr, err)
		}
	}
	if ls.sock, err = listenSocket(ctx, socket); err != nil {
		_ = ls.tcp.Close()
		if ls.plain != nil {
			_ = ls.plain.Close()
		}
		return ls, err
	}
	return ls, nil
}

// daemon is serve's wiring: an engine unit per docker context, the webhook
// listener that fans pushes out to them, and the two HTTP routers.
type daemon struct {
	// cancelWork ends the deploys the API runs; serve calls it once the
	// shutdown grace is over.
	cancelWork context.CancelFunc
	log        *slog.Logger
	units      []*engineUnit
	engines    api.Engines
	hooks      *webhook.Server
	sender     *notify.Sender
	tcp, sock  *mux.Router
	x          *exposure
	timeouts   exposeOptions
	trim       bool
}

func newDaemon(ctx context.Context, dockerCli command.Cli, led *ledger.Ledger, secrets webhookSecrets, o *serveOptions, g *globalOptions, x *exposure, log *slog.Logger) (*daemon, error) {
	secret := secrets.Default
	masker, err := g.masker()
	if err != nil {
		return nil, err
	}
	if o.keepImages < 1 {
		return nil, fmt.Errorf("--keep-images %d: keep at least 1, the images the project runs", o.keepImages)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	notes, err := newNotify(g, &o.notify, led, reg, log)
	if err != nil {
		return nil, err
	}
	names := g.contexts
	if len(names) == 0 {
		names = []string{dockerCli.CurrentContext()}
	}
	d := &daemon{log: log, sender: notes.sender, tcp: mux.NewRouter(), sock: mux.NewRouter(), x: x, timeouts: o.expose, trim: o.trimMemory}
	var fanout dispatch.Fanout
	for _, name := range names {
		if slices.ContainsFunc(d.units, func(u *engineUnit) bool { return u.name == name }) {
			return nil, fmt.Errorf("--context %s is named twice", name)
		}
		u, err := newEngineUnit(ctx, dockerCli, name, led.Engine(name), secrets, o, g, masker, notes, reg, log)
		if err != nil {
			return nil, err
		}
		d.units = append(d.units, u)
		d.engines = append(d.engines, u.local)
		fanout = append(fanout, u.disp)
	}
	hooks, err := webhook.New(webhook.Config{
		Secret: secret, Secrets: secrets.PerProvider, AllowUnauthenticated: o.allowUnauthenticated, MaxBody: o.maxBody,
		Replay: led, ReplayWindow: o.replayWindow, AllowFrom: secrets.AllowFrom,
		Dispatcher: fanout, Logger: log, Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	d.hooks = hooks
	hooks.Register(d.tcp)
	d.tcp.Handle("/metrics", metricsGuard(o.expose.metricsToken, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))).Methods(http.MethodGet)
	// The API can deploy anything: on the TCP address only with its own
	// token (registries and forges hold the webhook secret); otherwise on
	// the socket alone.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	d.cancelWork = cancelWork
	detach := api.WithDetach(func(req context.Context) (context.Context, context.CancelFunc) {
		c, cancel := context.WithCancel(context.WithoutCancel(req))
		unhook := context.AfterFunc(work, cancel)
		return c, func() { unhook(); cancel() }
	})
	// On the TCP address the API answers tokens (docker forge token create,
	// or FORGE_API_TOKEN as an admin's) and the page's sessions; on the
	// socket everyone who may open it is an admin.
	authn := auth.New(auth.Config{Tokens: led, AdminToken: os.Getenv("FORGE_API_TOKEN"), Logger: log})
	api.Register(d.tcp, d.engines, authn, log, detach, api.WithViewerLogs(o.viewerLogs))
	page, err := web.New(web.Config{Backend: d.engines, Auth: authn, ViewerLogs: o.viewerLogs, Logger: log})
	if err != nil {
		return nil, err
	}
	page.Register(d.tcp)
	// Before the API's /api/ prefix, which would answer 404 for them.
	if src := x.cert(); src != nil {
		api.RegisterCert(d.sock, src, log)
	}
	hooks.Register(d.sock)
	api.Register(d.sock, d.engines, auth.Trusted{}, log, detach, api.WithViewerLogs(o.viewerLogs))
	return d, nil
}

// engineUnit is what serve runs for one engine: its engine, its own deploy
// queue, stats collector and poller, and the API's face of them. Each
// reads and writes its engine's view of the shared ledger.
type engineUnit struct {
	name   string
	eng    *engine.Engine
	disp   *dispatch.Dispatcher
	poller *poll.Poller
	stats  *collector.Collector // nil when --stats-schedule=off
	local  *api.Local
}

func newEngineUnit(ctx context.Context, dockerCli command.Cli, name string, led *ledger.Ledger, secrets webhookSecrets, o *serveOptions, g *globalOptions,
	masker *snapshot.Masker, notes *notifySetup, reg prometheus.Registerer, log *slog.Logger) (*engineUnit, error) {
	cli, err := contextCli(dockerCli, name)
	if err != nil {
		return nil, fmt.Errorf("--context: %w", err)
	}
	log = log.With("engine", name)
	eng, err := engine.New(cli, log, engine.WithMasker(masker))
	if err != nil {
		return nil, err
	}
	if err := eng.Ping(ctx); err != nil {
		log.Warn("docker engine not reachable yet; its deploys wait in the queue until it is", "error", err)
	}
	checkouts := g.engineCheckouts(led.Home(), name)
	// Every engine's metrics carry its name.
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"engine": name}, reg)
	disp := dispatch.New(dispatch.Config{
		Engine: eng, Ledger: led, Logger: log, StopGrace: o.shutdownTimeout,
		HealthTimeout: o.healthTimeout, Settle: o.settle, MaxQueued: o.maxQueued,
		Secrets: append(registrySecrets(cli), secrets.all()...), Registerer: reg,
		Git: gitsrc.New(gitsrc.Config{Root: checkouts, Logger: log}), GitCredentials: secrets.gitCredentials,
		KeepImages: o.keepImages, Notifier: notes.notifier,
	})
	if err := disp.Recover(); err != nil {
		return nil, err
	}
	stats, err := collector.New(collector.Config{
		Engine: eng, Ledger: led, Logger: log, Schedule: o.statsSchedule, Retention: o.statsRetention,
		ErrNotRunning: engine.ErrNotRunning, Metrics: collector.NewMetrics(reg),
	})
	if errors.Is(err, collector.ErrOff) {
		log.Info("stats collector is off (--stats-schedule=off)")
	} else if err != nil {
		return nil, fmt.Errorf("--stats-schedule, --stats-keep-*: %w", err)
	}
	poller := poll.New(poll.Config{
		Projects: eng, Dispatcher: disp, Logger: log, Refresh: o.pollRefresh,
		Registry: &registry.Client{Creds: eng.RegistryCredentials, HTTP: &http.Client{Timeout: 30 * time.Second}},
	})
	local := &api.Local{Name: name, Dispatcher: disp, Ledger: led, Engine: eng, Channels: notes.names}
	return &engineUnit{name: name, eng: eng, disp: disp, poller: poller, stats: stats, local: local}, nil
}

// serve runs the listeners, the engine watch and the dispatcher until ctx
// ends or SIGINT/SIGTERM arrives, then stops them in order: listeners first,
// then the dispatcher, which lets a running deploy finish within timeout.
func (d *daemon) serve(ctx context.Context, ls listeners, timeout time.Duration) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Slow clients are cut off: headers within --header-timeout, the whole
	// request within --read-timeout.
	// HTTP/1.1 only: HTTP/2 would bound a connection's slow streams by the
	// idle timeout alone, not by these.
	http1 := new(http.Protocols)
	http1.SetHTTP1(true)
	tcp := &http.Server{Handler: expose.Middleware(d.x.trusted, d.tcp), ReadHeaderTimeout: d.timeouts.headerTimeout,
		ReadTimeout: d.timeouts.readTimeout, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, TLSConfig: d.x.tls,
		Protocols: http1, ErrorLog: httpErrorLog(d.log)}
	servers := []*http.Server{tcp, {Handler: expose.LocalMiddleware(d.sock), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}}
	serves := []func() error{
		func() error {
			if d.x.https() {
				return tcp.ServeTLS(ls.tcp, "", "")
			}
			return tcp.Serve(ls.tcp)
		},
		func() error { return servers[1].Serve(ls.sock) },
	}
	if ls.plain != nil {
		port := d.x.httpsPort(ls.tcp.Addr().String())
		var challenge func(http.Handler) http.Handler
		if d.x.acme != nil {
			challenge = d.x.acme.HTTPChallenge()
		}
		plain := &http.Server{Handler: expose.Redirect(port, challenge), ReadHeaderTimeout: d.timeouts.headerTimeout,
			ReadTimeout: d.timeouts.readTimeout, IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10, ErrorLog: httpErrorLog(d.log)}
		servers = append(servers, plain)
		serves = append(serves, func() error { return plain.Serve(ls.plain) })
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(servers)+1)
	for _, serve := range serves {
		wg.Go(func() {
			if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		})
	}
	// Certificates are obtained once the listeners answer: the CA's
	// challenge comes to them.
	if d.x.acme != nil {
		if err := d.x.acme.Start(ctx); err != nil {
			errc <- err
		}
	}
	for _, u := range d.units {
		// The engine's container events keep project discovery current, so a
		// webhook's answer need not list containers while a deploy runs.
		wg.Go(func() { _ = u.eng.Watch(ctx) })
		// Services labelled forge.poll are checked on their schedule, for
		// registries whose notifications are lost or never sent.
		wg.Go(func() {
			if err := u.poller.Run(ctx); err != nil {
				d.log.Error("poller stopped", "engine", u.name, "error", err)
			}
		})
		if u.stats != nil {
			wg.Go(func() {
				if err := u.stats.Run(ctx); err != nil {
					d.log.Error("stats collector stopped", "engine", u.name, "error", err)
				}
			})
		}
	}
	// Notifications go out on their own: a channel that is down or slow
	// holds back no deploy.
	wg.Go(func() { _ = d.sender.Run(ctx) })
	// Start-up is over once everything above runs: what it touched and
	// idle running does not need goes back to the system.
	if d.trim {
		wg.Go(func() {
			select {
			case <-time.After(trimDelay):
			case <-ctx.Done():
				return
			}
			if n, err := memtrim.Trim(); err != nil {
				d.log.Debug("start-up memory given back in part", "executable_bytes", n, "error", err)
			} else {
				d.log.Debug("start-up memory given back", "executable_bytes", n)
			}
		})
	}
	dispDone := make(chan struct{})
	var disps sync.WaitGroup
	for _, u := range d.units {
		disps.Go(func() { _ = u.disp.Run(ctx) })
	}
	go func() {
		defer close(dispDone)
		disps.Wait()
	}()

	var runErr error
	select {
	case <-ctx.Done():
		d.log.Info("stopping")
	case runErr = <-errc:
		d.log.Error("listener failed", "error", runErr)
	}
	stop() // on a listener failure, stop the dispatcher too
	// API deploys in flight get the same grace as queued ones, then end.
	grace := time.AfterFunc(timeout, d.cancelWork)
	defer grace.Stop()
	shutdown(ctx, servers, timeout+10*time.Second, d.log)
	d.cancelWork()
	wg.Wait()
	<-dispDone
	return runErr
}

func shutdown(ctx context.Context, servers []*http.Server, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil {
			log.Warn("http shutdown", "error", err)
		}
	}
}

// listenSocket listens on the daemon's unix socket, replacing a stale socket
// file that no daemon answers on. Only the owner may connect.
func listenSocket(ctx context.Context, path string) (net.Listener, error) {
	if _, err := os.Stat(path); err == nil {
		if _, err := api.Dial(ctx, path); err == nil {
			return nil, fmt.Errorf("a docker forge daemon already answers on %s", path)
		}
		_ = os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return ln, nil
}
