package cliplugin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/certs"
)

func newCertCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	var renew, asJSON bool
	cmd := &cobra.Command{
		Use:   "cert [OPTIONS]",
		Short: "Show the HTTPS certificate the daemon serves, or renew it now",
		Long: `Show the certificate "docker forge serve" serves on --addr: where it comes
from (--tls-cert files or an ACME CA), the names it covers, its issuer and
when it expires. It asks the running daemon, over its socket.

Certificate files are reloaded by the daemon on their own when they change.
ACME certificates are renewed on their own before they expire; --renew asks
the CA for a new one now (after a key compromise, or to try a CA change),
and the daemon serves it at once, without a restart.`,
		Example: `  docker forge cert
  docker forge cert --renew`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := api.Dial(cmd.Context(), g.socketPath())
			if err != nil {
				return fmt.Errorf("the certificate is the running daemon's (serve with --tls-cert/--tls-key or --acme-domain): %w", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Minute)
			defer cancel()
			var info certs.Info
			if renew {
				info, err = c.RenewCert(ctx)
			} else {
				info, err = c.Cert(ctx)
			}
			if api.IsNotFound(err) {
				return fmt.Errorf("the daemon serves plain HTTP: it has no certificate (see serve --tls-cert, --acme-domain)")
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(dockerCli.Out(), info)
			}
			_, err = fmt.Fprintf(dockerCli.Out(), "source:   %s\nnames:    %s\nissuer:   %s\nexpires:  %s (in %s)\nserial:   %s\n",
				info.Source, strings.Join(info.Names, ", "), info.Issuer, info.NotAfter.Format(time.RFC3339),
				time.Until(info.NotAfter).Round(time.Hour), info.Serial)
			return err
		},
	}
	cmd.Flags().BoolVar(&renew, "renew", false, "obtain a new ACME certificate now and serve it")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
