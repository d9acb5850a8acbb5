package cliplugin

import (
	"fmt"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-forge/docker-forge/dispatch"
)

func newRollbackCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	var (
		to     uint64
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "rollback [OPTIONS] PROJECT [SERVICE...]",
		Short: "Return services to the digests of an earlier deploy",
		Long: `Replay the pinned digests of an earlier successful deploy: by default the one
before the current, or the deploy given with --to (an ID from "docker forge
history"). With SERVICE, only those services go back. The rollback is recorded
as a new deploy with reason "rollback".`,
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
			d, err := b.Rollback(cmd.Context(), dispatch.RollbackRequest{
				Project: args[0], To: to, Services: args[1:], User: currentUser(),
			})
			return reportDeploy(dockerCli.Out(), d, err, asJSON)
		},
	}
	cmd.Flags().Uint64Var(&to, "to", 0, "deploy ID to return to (default: the successful deploy before the current)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the recorded deploy as JSON")
	return cmd
}
