// Command docker-forge is both a Docker CLI plugin (docker forge …) and,
// run directly, the same command tree standalone (docker-forge serve under
// systemd or in a container), as docker compose does.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
	"github.com/spf13/cobra"

	cliplugin "github.com/docker-forge/docker-forge/cli-plugin"
)

func main() {
	if !plugin.RunningStandalone() {
		plugin.Run(func(cli command.Cli) *cobra.Command {
			return cliplugin.NewRootCommand(cli, false)
		}, cliplugin.Metadata())
		return
	}
	dockerCli, err := command.NewDockerCli()
	if err != nil {
		fmt.Fprintln(os.Stderr, "docker-forge:", err)
		os.Exit(1)
	}
	if err := dockerCli.Initialize(flags.NewClientOptions()); err != nil {
		fmt.Fprintln(os.Stderr, "docker-forge:", err)
		os.Exit(1)
	}
	if err := cliplugin.NewRootCommand(dockerCli, true).ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "docker-forge:", err)
		os.Exit(1)
	}
}
