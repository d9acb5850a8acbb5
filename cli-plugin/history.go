package cliplugin

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-forge/docker-forge"
)

func newHistoryCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	var (
		asJSON, verbose bool
		limit           int
	)
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] PROJECT",
		Short: "Show a project's deploys, newest first",
		Long: `Show every recorded deploy of a project, newest first: why it ran, what
triggered it, each service's digest before and after, and how it ended.
The ID is what "docker forge rollback --to" and "docker forge diff" take. TOOK is
from the deploy's start to its outcome, health gate included; -v adds what each
deploy changed in the configuration and where its time went: the wait in the
queue, resolving digests, the engine's pull and recreate, reading back what
runs, and the health gate.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			h, err := b.History(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(dockerCli.Out(), h)
			}
			if len(h) == 0 {
				fmt.Fprintf(dockerCli.Out(), "no deploys recorded for %s\n", args[0])
				return nil
			}
			return writeHistory(dockerCli.Out(), h, verbose)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also say what each deploy changed in the configuration (docker forge diff shows it whole), its warnings, and how long each phase took")
	cmd.Flags().IntVarP(&limit, "limit", "n", 0, "show at most this many deploys (0: all kept)")
	return cmd
}

func writeHistory(w io.Writer, h []forge.Deploy, verbose bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "ID\tENGINE\tSTARTED\tREASON\tTRIGGER\tSTATUS\tTOOK\tSERVICES\tNOTE"
	if verbose {
		head += "\tCONFIGURATION\tPHASES"
	}
	fmt.Fprintln(tw, head)
	for _, d := range h {
		var svcs []string
		for _, s := range d.Services {
			svcs = append(svcs, serviceChange(d, s))
		}
		note := d.Error
		if d.RollbackOf != 0 {
			note = strings.TrimSpace(fmt.Sprintf("to deploy %d %s", d.RollbackOf, note))
		}
		if d.Reverts != 0 {
			note = strings.TrimSpace(fmt.Sprintf("undoes deploy %d %s", d.Reverts, note))
		}
		if d.Resumes != 0 {
			note = strings.TrimSpace(fmt.Sprintf("resumes interrupted deploy %d %s", d.Resumes, note))
		}
		if d.Commit != "" {
			at := "at commit " + shortCommit(d.Commit)
			if d.PreviousCommit != "" && d.PreviousCommit != d.Commit {
				at += " (was " + shortCommit(d.PreviousCommit) + ")"
			}
			note = strings.TrimSpace(at + "; " + note)
			note = strings.TrimSuffix(note, ";")
		}
		if d.RevertedBy != 0 {
			note = strings.TrimSpace(fmt.Sprintf("%s; rolled back by %d", note, d.RevertedBy))
		}
		started := d.Started
		if started.IsZero() {
			started = d.Queued
		}
		line := fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", d.ID, orDash(d.Engine), started.Local().Format(time.DateTime), d.Reason,
			trigger(d.Trigger), d.Status, took(d), strings.Join(svcs, ", "), note)
		if verbose {
			line += "\t" + orDash(d.ConfigSummary())
			for _, warn := range d.Warnings {
				line += " (warning: " + warn + ")"
			}
			line += "\t" + phases(d.Phases)
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// took is a finished deploy's time from start to outcome, "-" otherwise.
func took(d forge.Deploy) string {
	if d.Started.IsZero() || !d.Finished.After(d.Started) {
		return "-"
	}
	return roundDuration(d.Finished.Sub(d.Started)).String()
}

// phases says where a deploy's time went: "resolve 12ms, recreate 1.2s, …",
// the phases it spent time in only.
func phases(p forge.Phases) string {
	var parts []string
	p.Each(func(name string, d time.Duration) {
		if d > 0 {
			parts = append(parts, name+" "+roundDuration(d).String())
		}
	})
	return orDash(strings.Join(parts, ", "))
}

// roundDuration keeps a duration readable: ms below a second, tenths above.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// serviceChange is one service's part in a history line: its digest before
// and after (while the deploy runs, the one it is moving to), why it was
// recreated, and whether it runs a local image.
func serviceChange(d forge.Deploy, s forge.ServiceDeploy) string {
	after := s.Digest
	if !d.Status.Final() {
		after = cmp.Or(s.Target(), s.Requested)
	}
	line := fmt.Sprintf("%s %s → %s", s.Service, short(s.Previous), short(after))
	var notes []string
	switch {
	case s.Built:
		notes = append(notes, "built")
	case s.Local:
		notes = append(notes, "local")
	}
	notes = append(notes, s.Why...)
	if len(notes) > 0 {
		line += " (" + strings.Join(notes, ", ") + ")"
	}
	return line
}

func trigger(t forge.Trigger) string {
	switch {
	case t.Provider != "" && t.Delivery != "":
		return t.Provider + " " + shortDelivery(t.Delivery)
	case t.Provider != "":
		return t.Provider
	case t.User != "":
		return "user " + t.User
	}
	return "-"
}

func shortDelivery(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// short abbreviates a digest to sha256:0123456789ab, "-" when empty.
func short(digest string) string {
	if digest == "" {
		return "-"
	}
	if i := strings.IndexByte(digest, ':'); i >= 0 && len(digest) > i+13 {
		return digest[:i+13]
	}
	return digest
}

// shortCommit is the 12-character form of a git commit.
func shortCommit(sha string) string { return sha[:min(12, len(sha))] }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
