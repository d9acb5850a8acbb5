// Package cliplugin is docker-forge's command tree: `docker forge serve`,
// deploy, ls, history, rollback, lock, diff, forget, stats, top, token,
// notify and version. It wires the other packages
// together and is the only package besides main that reads flags and the
// environment. The same tree runs as a Docker CLI plugin and standalone.
package cliplugin

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/config"
	"github.com/spf13/cobra"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/snapshot"
)

// Metadata is the plugin handshake docker reads with docker-cli-plugin-metadata.
func Metadata() metadata.Metadata {
	return metadata.Metadata{
		SchemaVersion:    "0.1.0",
		Vendor:           "docker-forge",
		Version:          forge.Version,
		ShortDescription: "Redeploy compose services on registry pushes, pinned to digests, with rollback",
		URL:              "https://github.com/docker-forge/docker-forge",
	}
}

// globalOptions are the flags every command shares.
type globalOptions struct {
	dataDir  string
	logLevel string
	// contexts are the docker contexts named with --context: the engine a
	// command acts on, or the engines serve drives.
	contexts []string
}

// DefaultDataDir is $DOCKER_CONFIG/forge, i.e. ~/.docker/forge.
func DefaultDataDir() string {
	return filepath.Join(config.Dir(), "forge")
}

// NewRootCommand returns the command tree. standalone says it runs as the
// docker-forge binary rather than as `docker forge`.
func NewRootCommand(dockerCli command.Cli, standalone bool) *cobra.Command {
	opts := &globalOptions{}
	use := "forge"
	if standalone {
		use = "docker-forge"
	}
	root := &cobra.Command{
		Use:   use,
		Short: "Redeploy compose services when their images are pushed",
		Long: `docker forge redeploys the compose services that use an image when that image
is pushed, pinned to the pushed digest, records every deploy in a ledger, and
rolls any deploy back with one command.

Run "docker forge serve" to receive registry webhooks; the other commands work
whether or not it runs.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if !standalone && plugin.PersistentPreRunE != nil {
				if err := plugin.PersistentPreRunE(cmd, args); err != nil {
					return err
				}
			}
			if cmd.Name() == "serve" {
				return nil
			}
			if len(opts.contexts) > 1 {
				return fmt.Errorf("--context names one engine here (%s); serve alone takes several", strings.Join(opts.contexts, ", "))
			}
			engine := opts.chosenEngine(dockerCli)
			if cmd.Annotations[annotationAllEngines] == "true" && !opts.engineNamed(dockerCli) {
				engine = "" // a listing covers every engine the daemon drives
			}
			cmd.SetContext(api.WithEngine(cmd.Context(), engine))
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&opts.dataDir, "data-dir", envOr("FORGE_DATA_DIR", DefaultDataDir()), "directory for the ledger and the daemon's socket ($FORGE_DATA_DIR)")
	pf.StringArrayVar(&opts.contexts, "context", nil, "docker context of the engine to act on (default: the current one, as docker --context and DOCKER_CONTEXT choose); serve takes it once per engine it drives")
	pf.StringVar(&opts.logLevel, "log-level", envOr("FORGE_LOG_LEVEL", ""), "log level: debug, info, warn or error (default: info for serve, warn otherwise) ($FORGE_LOG_LEVEL)")
	root.AddCommand(
		newServeCommand(dockerCli, opts),
		newDeployCommand(dockerCli, opts),
		newHistoryCommand(dockerCli, opts),
		newRollbackCommand(dockerCli, opts),
		newLsCommand(dockerCli, opts),
		newLockCommand(dockerCli, opts),
		newDiffCommand(dockerCli, opts),
		newForgetCommand(dockerCli, opts),
		newTokenCommand(dockerCli, opts),
		newNotifyCommand(dockerCli, opts),
		newCertCommand(dockerCli, opts),
		newStatsCommand(dockerCli, opts),
		newTopCommand(dockerCli, opts),
		newVersionCommand(dockerCli),
	)
	// Usage lines say [OPTIONS], as docker's do; without this, cobra appends
	// "[flags]" after the arguments when the tree runs standalone (under
	// docker, plugin.Run does the same).
	for _, c := range append(root.Commands(), root) {
		c.DisableFlagsInUseLine = true
	}
	return root
}

// annotationAllEngines marks a listing (ls, top) that covers every engine
// the daemon drives unless one is named.
const annotationAllEngines = "forge.all-engines"

// chosenEngine is the engine a command acts on, with or without a daemon:
// its --context, else the docker CLI's current context (docker --context,
// DOCKER_CONTEXT, docker context use). It is always named to the daemon,
// so a command never acts on another engine's project of the same name.
func (o *globalOptions) chosenEngine(dockerCli command.Cli) string {
	if len(o.contexts) > 0 {
		return o.contexts[0]
	}
	return dockerCli.CurrentContext()
}

// engineNamed reports whether the person named an engine: --context, or a
// current context other than the default one.
func (o *globalOptions) engineNamed(dockerCli command.Cli) bool {
	return len(o.contexts) > 0 || dockerCli.CurrentContext() != command.DefaultContextName
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// logger returns the process's logger at the chosen level, writing text to w.
// Commands other than serve log warnings and errors only, unless asked.
func (o *globalOptions) logger(w io.Writer) (*slog.Logger, error) {
	lvl := slog.LevelWarn
	if o.logLevel == "" {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})), nil
	}
	if err := lvl.UnmarshalText([]byte(strings.ToLower(o.logLevel))); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}

func (o *globalOptions) ledgerPath() string { return filepath.Join(o.dataDir, "forge.db") }
func (o *globalOptions) socketPath() string { return filepath.Join(o.dataDir, "forge.sock") }

// checkoutsPath is where forge keeps its git checkouts of x-forge sources.
func (o *globalOptions) checkoutsPath() string { return filepath.Join(o.dataDir, "checkouts") }

// engineCheckouts is where forge keeps an engine's checkouts: each engine's
// apart (shop on edge is not shop here), the ledger's home engine's where a
// single-engine forge kept them. No project name starts with @.
func (o *globalOptions) engineCheckouts(home, engine string) string {
	if engine == home {
		return o.checkoutsPath()
	}
	return filepath.Join(o.checkoutsPath(), "@"+engine)
}

// masker masks secrets in the snapshots of deploys, with the key kept in
// the data dir beside (never in) the ledger, and the secret names of
// $FORGE_SECRET_NAMES (comma-separated glob patterns) beyond the defaults.
func (o *globalOptions) masker() (*snapshot.Masker, error) {
	key, err := snapshot.LoadKey(filepath.Join(o.dataDir, "snapshot.key"))
	if err != nil {
		return nil, err
	}
	return snapshot.NewMasker(key, strings.Split(os.Getenv("FORGE_SECRET_NAMES"), ",")...), nil
}

func newVersionCommand(dockerCli command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the docker-forge version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(dockerCli.Out(), "docker-forge %s\n", forge.Version)
			return err
		},
	}
}
