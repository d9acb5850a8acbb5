package cliplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/user"
	"time"

	"github.com/docker/cli/cli/command"

	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/engine"
	"github.com/docker-forge/docker-forge/gitsrc"
	"github.com/docker-forge/docker-forge/ledger"
)

// cliLockTimeout bounds how long a CLI command waits for the ledger's file
// lock when no daemon answers on the socket.
const cliLockTimeout = 500 * time.Millisecond

// backend returns a client of the running daemon when one answers on the
// socket, or an in-process backend on the ledger; close releases it.
func backend(ctx context.Context, dockerCli command.Cli, opts *globalOptions, log *slog.Logger) (b api.Backend, closeFn func(), err error) {
	if c, err := api.Dial(ctx, opts.socketPath()); err == nil {
		log.Debug("using the running daemon", "socket", opts.socketPath())
		return c, func() {}, nil
	}
	// A ledger written before projects were keyed by engine belongs to the
	// engine forge drove then: the current context.
	home, err := ledger.Open(opts.ledgerPath(), ledger.Options{Timeout: cliLockTimeout, Engine: dockerCli.CurrentContext()})
	if errors.Is(err, ledger.ErrLocked) {
		return nil, nil, fmt.Errorf("the ledger %s is held by another process, but no daemon answers on %s; is another docker forge command running?", opts.ledgerPath(), opts.socketPath())
	}
	if err != nil {
		return nil, nil, err
	}
	name := opts.chosenEngine(dockerCli)
	led := home.Engine(name)
	engineCli, err := contextCli(dockerCli, name)
	if err != nil {
		_ = home.Close()
		return nil, nil, err
	}
	masker, err := opts.masker()
	if err != nil {
		_ = home.Close()
		closeCli(dockerCli, engineCli)
		return nil, nil, err
	}
	eng, err := engine.New(engineCli, log, engine.WithMasker(masker))
	if err != nil {
		_ = home.Close()
		closeCli(dockerCli, engineCli)
		return nil, nil, err
	}
	// Credentials for git deploys: a config this user cannot read leaves
	// every other command working.
	path, explicit := opts.configPath("")
	secrets, err := loadSecrets(path, explicit)
	if err != nil {
		log.Warn("config not read; git deploys run without credentials", "error", err)
	}
	d := dispatch.New(dispatch.Config{
		Engine: eng, Ledger: led, Logger: log, Secrets: append(registrySecrets(engineCli), secrets.all()...),
		Git: gitsrc.New(gitsrc.Config{Root: opts.engineCheckouts(home.Home(), name), Logger: log}), GitCredentials: secrets.gitCredentials,
		Notifier: cliNotifier(opts, led, log),
	})
	return api.Engines{{Name: name, Dispatcher: d, Ledger: led, Engine: eng, Channels: channelNames(led)}}, func() {
		_ = home.Close()
		closeCli(dockerCli, engineCli)
	}, nil
}

// open returns the command's logger and backend; done releases the backend.
func (g *globalOptions) open(ctx context.Context, dockerCli command.Cli) (b api.Backend, done func(), err error) {
	log, err := g.logger(dockerCli.Err())
	if err != nil {
		return nil, nil, err
	}
	return backend(ctx, dockerCli, g, log)
}

// registrySecrets are the credentials in the user's Docker config, scrubbed
// from any error detail that reaches a log.
func registrySecrets(dockerCli command.Cli) []string {
	var out []string
	cfg := dockerCli.ConfigFile()
	if cfg == nil {
		return nil
	}
	for _, a := range cfg.AuthConfigs {
		out = append(out, a.Password, a.Auth, a.IdentityToken, a.RegistryToken)
	}
	return out
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}
