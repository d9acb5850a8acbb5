package cliplugin

import (
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
)

// closeCli lets go of a CLI contextCli opened (an ssh endpoint's helper
// process with it); the process's own is left alone.
func closeCli(own, c command.Cli) {
	if c != own {
		_ = c.Client().Close()
	}
}

// contextCli returns a docker CLI on the engine of the named docker context
// (ssh, tcp with TLS, unix: whatever the docker CLI's context store holds):
// the process's own when it is on that context already.
func contextCli(dockerCli command.Cli, name string) (command.Cli, error) {
	if name == "" || name == dockerCli.CurrentContext() {
		return dockerCli, nil
	}
	if _, err := dockerCli.ContextStore().GetMetadata(name); errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("unknown docker context %q: \"docker context ls\" lists them, \"docker context create\" makes one", name)
	} else if err != nil {
		return nil, fmt.Errorf("docker context %s: %w", name, err)
	}
	c, err := command.NewDockerCli(command.WithOutputStream(dockerCli.Out()), command.WithErrorStream(dockerCli.Err()))
	if err != nil {
		return nil, fmt.Errorf("docker context %s: %w", name, err)
	}
	opts := flags.NewClientOptions()
	opts.Context = name
	if err := c.Initialize(opts); err != nil {
		return nil, fmt.Errorf("docker context %s: %w", name, err)
	}
	return c, nil
}
