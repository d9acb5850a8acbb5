package cliplugin

import (
	"fmt"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/dispatch"
)

func newRollbackCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	var (
		to         uint64
		asJSON     bool
		noWait     bool
		imagesOnly bool
	)
	cmd := &cobra.Command{
		Use:   "rollback [OPTIONS] PROJECT [SERVICE...]",
		Short: "Return services to the digests of an earlier deploy",
		Long: `Replay the pinned digests of an earlier successful deploy: by default the one
before the current, or the deploy given with --to (an ID from "docker forge
history"). With SERVICE, only those services go back. The rollback is recorded
as a new deploy with reason "rollback". Each service gets back the whole
configuration it ran with then (environment, command, ports, volumes, ...;
secrets are taken from the compose file as it is now, with a warning when one
changed since), not only its image; --images-only keeps today's compose file
and returns the images only. A local image (built or imported on this engine)
is returned to by its image ID while the engine still has it.

A rollback takes its turn behind the project's deploys running or queued, and
chooses what to return to once its turn comes, from the history as it stands
then; --no-wait refuses instead of waiting.`,
		Example: `  docker forge rollback shop
  docker forge rollback shop --to 12 web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			fmt.Fprintf(dockerCli.Err(), "Rolling back %s...\n", args[0])
			d, err := inTurn(dockerCli.Err(), noWait, func(noWait bool) (forge.Deploy, error) {
				return b.Rollback(cmd.Context(), dispatch.RollbackRequest{
					Project: args[0], To: to, Services: args[1:], User: currentUser(), NoWait: noWait, ImagesOnly: imagesOnly,
				})
			})
			return reportDeploy(dockerCli.Out(), d, err, asJSON)
		},
	}
	cmd.Flags().Uint64Var(&to, "to", 0, "deploy ID to return to (default: the successful deploy before the current)")
	cmd.Flags().BoolVar(&imagesOnly, "images-only", false, "return the images only; keep the configuration the compose file has now")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "refuse, instead of waiting, when another deploy of the project runs or is queued")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the recorded deploy as JSON")
	return cmd
}
