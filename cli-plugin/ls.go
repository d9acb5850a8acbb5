package cliplugin

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-forge/docker-forge/api"
)

func newLsCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use: "ls [OPTIONS]",
		// Every engine's projects, unless one is named.
		Annotations: map[string]string{annotationAllEngines: "true"},
		Aliases:     []string{"list"},
		Short:       "List projects, their services (and which follow pushes), the digest each runs, and the last deploy",
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			ps, err := b.Projects(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(dockerCli.Out(), ps)
			}
			return writeProjects(dockerCli.Out(), ps)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeProjects(w io.Writer, ps []api.ProjectStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECT\tENGINE\tSERVICE\tPUSHES\tIMAGE\tDIGEST\tSTATE\tLAST DEPLOY")
	for _, p := range ps {
		last := "-"
		if d := p.LastDeploy; d != nil {
			last = fmt.Sprintf("%d %s %s", d.ID, d.Reason, d.Status)
			if !d.Status.Final() {
				// What a deploy still running or queued moves each service to.
				var to []string
				for _, s := range d.Services {
					if t := cmp.Or(s.Target(), s.Requested); t != "" {
						to = append(to, s.Service+" → "+short(t))
					}
				}
				if len(to) > 0 {
					last += ": " + strings.Join(to, ", ")
				}
			}
		}
		if p.Attention != "" {
			last += " (NEEDS ATTENTION: " + p.Attention + ")"
		}
		eng := orDash(p.Engine)
		if p.Stack {
			eng += " (swarm)"
		}
		if p.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t%s\t%s\n", p.Name, eng, p.Error, last)
			continue
		}
		if len(p.Services) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t%s\n", p.Name, eng, last)
		}
		for _, s := range p.Services {
			state := s.State
			if state == "" {
				state = "not created"
			}
			if slices.Contains(p.Drift, s.Name) {
				state += " (DRIFT: changed by hand; docker forge diff " + p.Name + " running)"
			}
			follows, digest := "-", s.Digest
			if s.Enabled {
				follows = "follows"
			}
			if digest == "" {
				digest = s.ImageID // a local image
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, eng, s.Name, follows, s.Image, short(digest), state, last)
		}
	}
	return tw.Flush()
}
