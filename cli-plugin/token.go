package cliplugin

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-forge/docker-forge"
)

func newTokenCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make, list and revoke the tokens that reach the API and the dashboard",
		Long: `Tokens let people and scripts reach docker-forge's API and dashboard on the
daemon's TCP address. An admin token deploys, rolls back and manages tokens; a
viewer token reads everything else (containers' logs only with serve
--viewer-logs). The ledger keeps only a hash of each token: it is shown once,
when it is made. Revoking a token ends the browser sessions it opened.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newTokenCreateCommand(dockerCli, g), newTokenLsCommand(dockerCli, g), newTokenRevokeCommand(dockerCli, g))
	return cmd
}

func newTokenCreateCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	var (
		name, role string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] --name NAME --role admin|viewer",
		Short: "Make a token and print it (the only time it is shown)",
		Example: `  docker forge token create --name alice --role viewer
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9470/api/projects`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return fmt.Errorf("token create: --name is required")
			}
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			t, err := b.CreateToken(cmd.Context(), name, forge.Role(role))
			if err != nil {
				return fmt.Errorf("token create: %w", err)
			}
			if asJSON {
				return writeJSON(dockerCli.Out(), t)
			}
			fmt.Fprintln(dockerCli.Out(), t.Secret)
			fmt.Fprintf(dockerCli.Err(), "token %s (%s) made; it is not shown again: keep it now\n", t.Name, t.Role)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "what to call the token (who or what holds it)")
	cmd.Flags().StringVar(&role, "role", string(forge.RoleViewer), "admin (deploys, rollbacks, tokens) or viewer (reads)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the token and its details as JSON")
	return cmd
}

func newTokenLsCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List the tokens (their names and roles; never the tokens)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			ts, err := b.Tokens(cmd.Context())
			if err != nil {
				return fmt.Errorf("token ls: %w", err)
			}
			if asJSON {
				return writeJSON(dockerCli.Out(), ts)
			}
			return writeTokens(dockerCli.Out(), ts)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeTokens(w io.Writer, ts []forge.Token) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Role, t.Created.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func newTokenRevokeCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token: it and the sessions it opened stop working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			if err := b.RevokeToken(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("token revoke: %w", err)
			}
			fmt.Fprintf(dockerCli.Out(), "revoked %s\n", args[0])
			return nil
		},
	}
}
