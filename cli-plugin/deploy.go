package cliplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/engine"
)

type deployOptions struct {
	files    []string
	project  string
	envFiles []string
	profiles []string
	build    bool
	noWait   bool
	json     bool
	swarm    bool
}

func newDeployCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	o := &deployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy [OPTIONS] {PROJECT | -f compose.yaml [-p NAME]} [SERVICE...]",
		Short: "Deploy services now, as docker compose up -d would, each pinned to an exact image",
		Long: `Bring the project's services up as "docker compose up -d" would, each pinned
to an exact image and recorded: a registry image to its tag's current digest
(repo@sha256:...), an image that exists only on this engine (built, imported,
loaded, never pushed) to its local image ID. A service with a build: section is
built when its image is missing, or always with --build. Compose recreates a
service whose image or configuration (environment, command, ports, volumes,
labels, healthcheck, ...) differs from what its container was created with, and
leaves the others running; the output says why each one was recreated.

With no SERVICE, every service of the project (of its active profiles) is
deployed. The forge.enable=true label decides what pushes and polls may move
later, not what you deploy by hand; the output names the services pushes follow.

A running project is found by name from its containers' compose labels. Name a
project that is not running yet with -f (and -p), as with docker compose.
Deploys of one project run one at a time, in the order asked for: this one
waits for those running or queued, unless --no-wait.

With --swarm, on a swarm manager, -f names a stack file and -p the stack, as
with "docker stack deploy": its networks, secrets, configs and services are
created or updated, each service's image pinned to its tag's digest
(repo:tag@sha256:...), and the deploy waits until the swarm has started
them. A stack that runs already is found by name like any project (forge
lists stacks beside compose projects): deploying it updates each service to
its tag's current digest through the swarm, keeping its update_config.`,
		Example: `  docker forge deploy shop
  docker forge deploy shop web
  docker forge deploy -f compose.yaml -p shop
  docker forge deploy -f compose.yaml -p shop --build
  docker forge deploy -f stack.yaml -p shop --swarm`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := forge.ProjectRef{Name: o.project, EnvFiles: absAll(o.envFiles), Profiles: o.profiles}
			if len(o.files) > 0 {
				ref.ConfigFiles = absAll(o.files)
				ref.WorkingDir = filepath.Dir(ref.ConfigFiles[0])
			} else {
				if len(args) == 0 {
					return errors.New(`"docker forge deploy" needs a PROJECT, or -f with the compose file`)
				}
				if o.project != "" {
					return errors.New("-p names a project for -f; without -f give the project as the first argument")
				}
				if len(o.envFiles) > 0 || len(o.profiles) > 0 {
					return errors.New("--env-file and --profile go with -f; a running project is deployed as its containers were created")
				}
				ref.Name, args = args[0], args[1:]
			}
			if o.swarm {
				if err := checkStack(cmd.Context(), dockerCli, g, o, &ref); err != nil {
					return err
				}
			}
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			fmt.Fprintf(dockerCli.Err(), "Deploying %s...\n", nameOr(ref))
			d, err := inTurn(dockerCli.Err(), o.noWait, func(noWait bool) (forge.Deploy, error) {
				return b.Deploy(cmd.Context(), dispatch.Request{Ref: ref, Services: args, User: currentUser(), Build: o.build, NoWait: noWait})
			})
			return reportDeploy(dockerCli.Out(), d, err, o.json)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "file", "f", nil, "compose file(s) of a project that is not running yet")
	f.StringVarP(&o.project, "project-name", "p", "", "project name, with -f (default: from the compose file)")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "environment file(s), with -f")
	f.StringArrayVar(&o.profiles, "profile", nil, "compose profile(s) to enable, with -f")
	f.BoolVar(&o.build, "build", false, "build the services that have a build: section first, as compose up --build")
	f.BoolVar(&o.noWait, "no-wait", false, "refuse, instead of waiting, when another deploy of the project runs or is queued")
	f.BoolVar(&o.json, "json", false, "print the recorded deploy as JSON")
	f.BoolVar(&o.swarm, "swarm", false, "deploy a swarm stack: -f names its stack file, -p the stack (on a swarm manager)")
	return cmd
}

// checkStack refuses a stack deploy that cannot work before anything is
// asked of a daemon: options a stack does not take, a stack file that does
// not load, an engine that is not a swarm manager. It marks ref as a stack.
func checkStack(ctx context.Context, dockerCli command.Cli, g *globalOptions, o *deployOptions, ref *forge.ProjectRef) error {
	switch {
	case len(o.envFiles) > 0 || len(o.profiles) > 0:
		return errors.New("--env-file and --profile are for compose projects; a stack file is interpolated from the environment, as docker stack deploy does")
	case o.build:
		return errors.New("--build is for compose projects; a stack runs registry images: build and push them first")
	case len(ref.ConfigFiles) > 0 && ref.Name == "":
		return errors.New("a stack needs a name: -p NAME with -f stack.yaml")
	}
	ref.Stack = true
	if len(ref.ConfigFiles) > 0 {
		ignored, err := engine.ValidateStackFile(ref.ConfigFiles, ref.WorkingDir)
		if err != nil {
			return fmt.Errorf("deploy %s: %w", ref.Name, err)
		}
		if len(ignored) > 0 {
			fmt.Fprintf(dockerCli.Err(), "warning: a swarm ignores these options of the stack file: %s\n", strings.Join(ignored, ", "))
		}
	}
	cli, err := contextCli(dockerCli, g.chosenEngine(dockerCli))
	if err != nil {
		return err
	}
	defer closeCli(dockerCli, cli)
	manager, err := engine.SwarmManager(ctx, cli.Client())
	if err != nil {
		return fmt.Errorf("deploy %s: %w", ref.Name, err)
	}
	if !manager {
		return fmt.Errorf("deploy %s: %w", ref.Name, engine.ErrNotManager)
	}
	return nil
}

func nameOr(ref forge.ProjectRef) string {
	if ref.Name != "" {
		return ref.Name
	}
	return strings.Join(ref.ConfigFiles, ",")
}

func absAll(paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if a, err := filepath.Abs(p); err == nil {
			p = a
		}
		out = append(out, p)
	}
	return out
}

// inTurn runs a deploy or rollback. Asked first not to wait, a busy project
// answers with what runs; unless noWait, the command says what it waits for
// and asks again, queueing behind it.
func inTurn(w io.Writer, noWait bool, run func(noWait bool) (forge.Deploy, error)) (forge.Deploy, error) {
	d, err := run(true)
	busy, ok := errors.AsType[*dispatch.BusyError](err)
	if !ok {
		return d, err
	}
	if noWait {
		return d, fmt.Errorf("%w: not waiting (--no-wait); run it again once that has finished, or without --no-wait to queue behind it", err)
	}
	what := "a deploy of " + busy.Project
	if busy.ID != 0 {
		what = fmt.Sprintf("deploy %d of %s", busy.ID, busy.Project)
	}
	fmt.Fprintf(w, "waiting for %s to finish…\n", what)
	return run(false)
}

// reportDeploy prints a finished deploy, and turns a failed one into the
// command's error.
func reportDeploy(w io.Writer, d forge.Deploy, err error, asJSON bool) error {
	if _, failed := errors.AsType[*dispatch.Failure](err); err != nil && !failed {
		return err
	}
	if asJSON {
		if jerr := writeJSON(w, d); jerr != nil {
			return jerr
		}
		return err
	}
	fmt.Fprintf(w, "deploy %d of %s: %s (%s)\n", d.ID, d.Project, d.Status, d.Finished.Sub(d.Started).Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range d.Services {
		change := "unchanged"
		switch {
		case s.Changed && len(s.Why) == 1 && s.Why[0] == forge.WhyCreated:
			change = "created"
		case s.Changed && len(s.Why) > 0:
			change = "recreated: " + strings.Join(s.Why, ", ")
		case s.Changed:
			change = "recreated"
		}
		local := ""
		switch {
		case s.Built:
			local = "  (built here)"
		case s.Local:
			local = "  (local image)"
		}
		fmt.Fprintf(tw, "  %s\t%s → %s\t%s%s\n", s.Service, short(s.Previous), short(s.Digest), change, local)
	}
	_ = tw.Flush()
	for _, warn := range d.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if d.Reason == forge.ReasonManual && d.Status == forge.StatusSucceeded {
		var on, off []string
		for _, s := range d.Services {
			if s.Enabled {
				on = append(on, s.Service)
			} else {
				off = append(off, s.Service)
			}
		}
		switch {
		case len(off) == 0 && len(on) > 0:
			fmt.Fprintf(w, "pushes move: %s\n", strings.Join(on, ", "))
		case len(off) > 0 && len(on) == 0:
			fmt.Fprintf(w, "pushes move none of these: label a service forge.enable=true to follow its image's pushes\n")
		case len(off) > 0:
			fmt.Fprintf(w, "pushes move: %s; not %s (no forge.enable=true label)\n", strings.Join(on, ", "), strings.Join(off, ", "))
		}
	}
	return err
}
