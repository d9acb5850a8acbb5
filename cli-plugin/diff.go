package cliplugin

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-forge/docker-forge/dispatch"
)

func newDiffCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "diff [OPTIONS] PROJECT {A [B] | running}",
		Short: "Show what changed in a project's configuration between two deploys",
		Long: `Show, service by service and field by field, what changed in the project's
configuration from after deploy A to after deploy B (default: the current
deploy): image digests, environment variables, command, ports, volumes,
labels, healthcheck, resources. Secrets (variables and labels whose names look
secret, anything from an env_file, passwords in URLs) show as "changed" only:
the ledger keeps a keyed hash of them, never their values.

"running" compares the current deploy with what the containers run now: a
project changed by hand since (docker compose up, docker run) shows how.`,
		Example: `  docker forge diff shop 9 12
  docker forge diff shop 9
  docker forge diff shop running`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, to := args[1], ""
			if len(args) == 3 {
				to = args[2]
			} else if from == dispatch.Running {
				from, to = "", dispatch.Running
			}
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			d, err := b.Diff(cmd.Context(), args[0], from, to)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(dockerCli.Out(), d)
			}
			return writeDiff(dockerCli.Out(), d)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

var longDigest = regexp.MustCompile(`(sha256:[0-9a-f]{12})[0-9a-f]{52}`)

func side(s string) string {
	if s == dispatch.Running {
		return "the running containers"
	}
	return "deploy " + s
}

func writeDiff(w io.Writer, d dispatch.Diff) error {
	fmt.Fprintf(w, "%s: %s → %s\n", d.Project, side(d.From), side(d.To))
	if len(d.Services) == 0 {
		_, err := fmt.Fprintln(w, "  no change in the configuration")
		return err
	}
	for _, s := range d.Services {
		switch {
		case s.Added:
			fmt.Fprintf(w, "%s (only in %s)\n", s.Service, side(d.To))
			continue
		case s.Removed:
			fmt.Fprintf(w, "%s (only in %s)\n", s.Service, side(d.From))
			continue
		}
		fmt.Fprintln(w, s.Service)
		for _, c := range s.Changes {
			fmt.Fprintln(w, "  "+longDigest.ReplaceAllString(c.String(), "$1"))
		}
	}
	return nil
}

func newForgetCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	var force, asJSON bool
	cmd := &cobra.Command{
		Use:   "forget [OPTIONS] PROJECT",
		Short: "Delete everything docker-forge keeps of a project",
		Long: `Delete the project's deploys, configuration snapshots, stats history and the
webhook deliveries its deploys came from, in one step. A project whose
containers run is refused unless --force (take it down first with docker
compose down: forget does not touch containers).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			out, err := b.Forget(cmd.Context(), args[0], force)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(dockerCli.Out(), out)
			}
			_, err = fmt.Fprintf(dockerCli.Out(), "forgot %s: %d deploys, %d configuration snapshots, %d stats series, %d containers' latest samples, %d webhook deliveries\n",
				args[0], out.Deploys, out.Snapshots, out.Series, out.Containers, out.Deliveries)
			return err
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "forget the project even though its containers run")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print what was removed as JSON")
	return cmd
}

// orDash is a column's text, trimmed, or "-" when there is none.
func orDash(summary string) string {
	if summary == "" {
		return "-"
	}
	return strings.TrimSpace(summary)
}
