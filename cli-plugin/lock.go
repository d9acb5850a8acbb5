package cliplugin

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/docker-forge/docker-forge/dispatch"
)

func newLockCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	var (
		deploy uint64
		output string
	)
	cmd := &cobra.Command{
		Use:   "lock [OPTIONS] PROJECT",
		Short: "Write a compose override that pins every service to a deploy's images",
		Long: `Write a compose override file that pins every service of the project to the
image it ran after the current deploy (or the deploy given with --deploy): a
registry image by digest (repo@sha256:...), a local image by its image ID.
Brought up with the project's own compose files, it reproduces that deploy
without docker-forge:

  docker compose -f compose.yaml -f compose.lock.yaml up -d

Deploying with it changes nothing. A header comment says which deploy it
came from. Without -o the override is printed.`,
		Example: `  docker forge lock shop -o compose.lock.yaml
  docker forge lock shop --deploy 12 -o compose.lock.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			l, err := b.Lock(cmd.Context(), args[0], deploy)
			if err != nil {
				return err
			}
			out, err := renderLock(l, output)
			if err != nil {
				return fmt.Errorf("lock %s: %w", args[0], err)
			}
			if output == "" {
				_, err = dockerCli.Out().Write(out)
				return err
			}
			if err := os.WriteFile(output, out, 0o644); err != nil {
				return fmt.Errorf("lock %s: %w", args[0], err)
			}
			fmt.Fprintf(dockerCli.Err(), "wrote %s: %d services pinned to deploy %d of %s\n", output, len(l.Services), l.Deploy.ID, l.Project)
			return nil
		},
	}
	cmd.Flags().Uint64Var(&deploy, "deploy", 0, "deploy ID to pin to (default: the project's newest successful deploy)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write (default: print it)")
	return cmd
}

// renderLock writes a Lock as a compose override: the project's name (so
// docker compose addresses the same project) and each service's image, with
// a header that says where it came from and how to use it. output is the
// file it goes to, for the header's example; "" for stdout.
func renderLock(l dispatch.Lock, output string) ([]byte, error) {
	services := &yaml.Node{Kind: yaml.MappingNode}
	for _, s := range l.Services {
		image := &yaml.Node{Kind: yaml.ScalarNode, Value: s.Image}
		if s.Local {
			image.LineComment = fmt.Sprintf("local image (%s): only on the engine that built or loaded it", s.Was)
		}
		services.Content = append(services.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: s.Service},
			&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "image"}, image}},
		)
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "name"}, {Kind: yaml.ScalarNode, Value: l.Project},
		{Kind: yaml.ScalarNode, Value: "services"}, services,
	}}
	var buf bytes.Buffer
	writeLockHeader(&buf, l, output)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeLockHeader(w io.Writer, l dispatch.Lock, output string) {
	d := l.Deploy
	fmt.Fprintf(w, "# Written by docker forge lock: the images of deploy %d of %s (%s, %s, finished %s).\n",
		d.ID, l.Project, d.Reason, d.Status, d.Finished.UTC().Format(time.RFC3339))
	if d.Commit != "" {
		fmt.Fprintf(w, "# Git commit %s.\n", d.Commit)
	}
	files := make([]string, 0, len(l.ConfigFiles)+1)
	for _, f := range l.ConfigFiles {
		files = append(files, "-f "+f)
	}
	if output == "" {
		output = "compose.lock.yaml"
	}
	files = append(files, "-f "+filepath.Base(output))
	fmt.Fprintf(w, "# Reproduce it without docker-forge:\n#   docker compose %s up -d\n", strings.Join(files, " "))
	if len(l.Unpinned) > 0 {
		fmt.Fprintf(w, "# Not pinned (no successful deploy recorded them): %s.\n", strings.Join(l.Unpinned, ", "))
	}
}
