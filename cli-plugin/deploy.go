package cliplugin

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/dispatch"
)

type deployOptions struct {
	files    []string
	project  string
	envFiles []string
	profiles []string
	json     bool
}

func newDeployCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	o := &deployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy [OPTIONS] {PROJECT | -f compose.yaml [-p NAME]} [SERVICE...]",
		Short: "Deploy services now, pinned to their tags' current digests",
		Long: `Resolve the current registry digest of each service's image tag, pin the
service to it (repo@sha256:...) and bring it up with compose. Services already
running that digest are not recreated. With no SERVICE, every service labelled
forge.enable=true is deployed.

A running project is found by name from its containers' compose labels. Name a
project that is not running yet with -f (and -p), as with docker compose.`,
		Example: `  docker forge deploy shop
  docker forge deploy shop web
  docker forge deploy -f compose.yaml -p shop`,
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
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			fmt.Fprintf(dockerCli.Err(), "Deploying %s...\n", nameOr(ref))
			d, err := b.Deploy(cmd.Context(), dispatch.Request{Ref: ref, Services: args, User: currentUser()})
			return reportDeploy(dockerCli.Out(), d, err, o.json)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "file", "f", nil, "compose file(s) of a project that is not running yet")
	f.StringVarP(&o.project, "project-name", "p", "", "project name, with -f (default: from the compose file)")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "environment file(s), with -f")
	f.StringArrayVar(&o.profiles, "profile", nil, "compose profile(s) to enable, with -f")
	f.BoolVar(&o.json, "json", false, "print the recorded deploy as JSON")
	return cmd
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
	} else {
		fmt.Fprintf(w, "deploy %d of %s: %s (%s)\n", d.ID, d.Project, d.Status, d.Finished.Sub(d.Started).Round(time.Millisecond))
		for _, s := range d.Services {
			change := "recreated"
			if !s.Changed {
				change = "unchanged"
			}
			fmt.Fprintf(w, "  %-16s %s → %s  %s\n", s.Service, short(s.Previous), short(s.Digest), change)
		}
	}
	return err
}
