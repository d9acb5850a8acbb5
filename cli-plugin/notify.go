package cliplugin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
	"github.com/docker-forge/docker-forge/ledger"
	"github.com/docker-forge/docker-forge/notify"
	"github.com/docker-forge/docker-forge/snapshot"
)

// notifyTimeout bounds one attempt at a channel, and the requests of the
// services that use Go's default HTTP client (generic webhooks).
const notifyTimeout = 20 * time.Second

// notifyOptions are serve's notification flags.
type notifyOptions struct {
	urls      []string
	template  string
	unmatched bool
	publicURL string
}

func (o *notifyOptions) flags(f *pflag.FlagSet) {
	f.StringArrayVar(&o.urls, "notify", nil, "notification `URL` (shoutrrr: slack://…, ntfy://…, smtp://…, generic+https://…; repeatable), told of every project's deploys, with those in $FORGE_NOTIFY (space-separated)")
	f.StringVar(&o.template, "notify-template", "", "`FILE` with the notification message's Go text/template (see README: Notifications)")
	f.BoolVar(&o.unmatched, "notify-unmatched", false, "also tell the --notify channels of a push that deployed nothing")
	f.StringVar(&o.publicURL, "public-url", envOr("FORGE_PUBLIC_URL", ""), "the dashboard's address (`URL`) as people reach it (https://forge.example.com), for links in notifications ($FORGE_PUBLIC_URL)")
}

// notifyKeys are the outbox's keys, from the data dir's key.
func (o *globalOptions) notifyKeys() (*notify.Keys, error) {
	key, err := snapshot.LoadKey(filepath.Join(o.dataDir, "snapshot.key"))
	if err != nil {
		return nil, err
	}
	return notify.NewKeys(key)
}

// notifySetup is serve's notification wiring.
type notifySetup struct {
	notifier *notify.Notifier
	sender   *notify.Sender
	names    []string
}

// newNotify checks serve's notification channels and template, refusing
// one that cannot work (named masked: the URL carries credentials), and
// records the channels for the CLI's in-process deploys.
func newNotify(g *globalOptions, o *notifyOptions, led *ledger.Ledger, reg prometheus.Registerer, log *slog.Logger) (*notifySetup, error) {
	keys, err := g.notifyKeys()
	if err != nil {
		return nil, err
	}
	type entry struct{ raw, from string }
	var raws []entry
	for i, u := range o.urls {
		raws = append(raws, entry{u, fmt.Sprintf("--notify #%d", i+1)})
	}
	for i, u := range strings.Fields(os.Getenv("FORGE_NOTIFY")) {
		raws = append(raws, entry{u, fmt.Sprintf("FORGE_NOTIFY entry %d", i+1)})
	}
	var (
		channels []notify.Channel
		sealed   []ledger.SealedChannel
		names    []string
	)
	for _, e := range raws {
		ch, err := keys.Check(e.raw)
		if err != nil {
			return nil, fmt.Errorf("%s is not a notification URL: %w", e.from, err)
		}
		channels = append(channels, ch)
		sealed = append(sealed, ledger.SealedChannel{Name: ch.Name, Sealed: keys.Seal(ch.URL)})
		names = append(names, ch.Name)
	}
	tmpl, err := loadTemplate(o.template)
	if err != nil {
		return nil, err
	}
	if o.publicURL != "" {
		u, err := url.Parse(o.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--public-url %q: want the dashboard's address, such as https://forge.example.com", o.publicURL)
		}
	}
	if err := led.SetChannels(sealed); err != nil {
		return nil, err
	}
	// Generic webhooks use Go's default client, which waits forever.
	if http.DefaultClient.Timeout == 0 {
		http.DefaultClient.Timeout = notifyTimeout
	}
	sender := notify.NewSender(notify.SenderConfig{
		Outbox: led, Keys: keys, Template: tmpl, PublicURL: o.publicURL, Channels: names,
		Logger: log, Registerer: reg, Timeout: notifyTimeout,
	})
	notifier := notify.NewNotifier(notify.NotifierConfig{Keys: keys, Channels: channels, Unmatched: o.unmatched, Wake: sender.Wake, Logger: log})
	if len(channels) > 0 {
		log.Info("notifications on", "channels", names)
	}
	return &notifySetup{notifier: notifier, sender: sender, names: names}, nil
}

// loadTemplate reads --notify-template and tries it on a sample deploy, so
// a template that cannot render refuses serve rather than every message.
func loadTemplate(file string) (*template.Template, error) {
	text := ""
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--notify-template: %w", err)
		}
		text = string(b)
	}
	t, err := notify.ParseTemplate(text)
	if err != nil {
		return nil, fmt.Errorf("--notify-template %s: %w", file, err)
	}
	now := time.Now()
	sample := &forge.Deploy{ID: 1, Project: "sample", Reason: forge.ReasonPush, Status: forge.StatusSucceeded, Started: now, Finished: now.Add(time.Second),
		Services: []forge.ServiceDeploy{{Service: "web", Digest: "sha256:" + strings.Repeat("0", 64)}}}
	if _, _, err := notify.Render(t, notify.NewMessage(notify.EventSucceeded, sample, "", "", "sample")); err != nil {
		return nil, fmt.Errorf("--notify-template %s: %w", file, err)
	}
	return t, nil
}

// cliNotifier tells the daemon's channels (as it last recorded them) and
// the project's of a deploy the CLI runs itself; the messages wait in the
// outbox until the daemon runs. nil when there is nothing to tell.
func cliNotifier(g *globalOptions, led *ledger.Ledger, log *slog.Logger) *notify.Notifier {
	keys, err := g.notifyKeys()
	if err != nil {
		log.Warn("notifications off: the data dir's key is not readable", "error", err)
		return nil
	}
	sealed, err := led.Channels()
	if err != nil {
		log.Warn("the daemon's notification channels are not readable", "error", err)
	}
	var channels []notify.Channel
	for _, s := range sealed {
		raw, err := keys.Open(s.Sealed)
		if err != nil {
			log.Warn("notification channel skipped", "channel", s.Name, "error", err)
			continue
		}
		channels = append(channels, notify.Channel{URL: raw, Name: s.Name})
	}
	return notify.NewNotifier(notify.NotifierConfig{Keys: keys, Channels: channels, Logger: log})
}

// channelNames are the daemon's channels as it last recorded them.
func channelNames(led *ledger.Ledger) []string {
	sealed, _ := led.Channels()
	var names []string
	for _, s := range sealed {
		names = append(names, s.Name)
	}
	return names
}

func newNotifyCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "List the notification channels and what waits for them; send a test message",
		Long: `docker-forge tells notification channels what it deployed: a deploy that
succeeded or failed, an automatic or a manual rollback, a project that needs
attention. Channels are shoutrrr URLs (Slack, Discord, Teams, Telegram, ntfy,
Gotify, Matrix, Pushover, SMTP e-mail, generic webhooks, ...), given to serve
with --notify or $FORGE_NOTIFY, or per project in the compose file:

  x-forge:
    notify: ["ntfy://ntfy.example.com/deploys"]

A service's forge.notify label filters what its project's deploys tell:
all (the default), failure (failures and rollbacks) or change (all but a
deploy that changed nothing). Messages wait in the ledger's outbox until
their channel takes them, across restarts; URLs are shown masked.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newNotifyLsCommand(dockerCli, g), newNotifyTestCommand(dockerCli))
	return cmd
}

func newNotifyLsCommand(dockerCli command.Cli, g *globalOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List the notification channels and the messages waiting for each",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, done, err := g.open(cmd.Context(), dockerCli)
			if err != nil {
				return err
			}
			defer done()
			cs, err := b.Notifications(cmd.Context())
			if err != nil {
				return fmt.Errorf("notify ls: %w", err)
			}
			if asJSON {
				if cs == nil {
					cs = []api.NotifyChannel{}
				}
				return writeJSON(dockerCli.Out(), cs)
			}
			if len(cs) == 0 {
				fmt.Fprintln(dockerCli.Err(), "no notification channels: give serve --notify URL (see docker forge notify --help)")
				return nil
			}
			return writeChannels(dockerCli.Out(), cs, time.Now())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeChannels(w io.Writer, cs []api.NotifyChannel, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANNEL\tFROM\tWAITING\tOLDEST\tATTEMPTS\tNEXT TRY\tLAST ERROR")
	for _, c := range cs {
		from := "project"
		if c.Daemon {
			from = "serve"
		}
		oldest, next := "-", "-"
		if !c.Oldest.IsZero() {
			oldest = now.Sub(c.Oldest).Round(time.Second).String() + " ago"
		}
		if c.NextAt.After(now) {
			next = "in " + c.NextAt.Sub(now).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\n", c.Channel, from, c.Waiting, oldest, c.Attempts, next, orDash(c.LastError))
	}
	return tw.Flush()
}

func newNotifyTestCommand(dockerCli command.Cli) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "test [OPTIONS] URL|-",
		Short: "Send a test message to a notification URL and report the channel's answer",
		Long: `Send a test message to a shoutrrr notification URL now, from this machine,
and say whether the channel took it. "-" reads the URL from stdin, which keeps
its credentials out of the shell's history and the process list.`,
		Example: `  docker forge notify test 'ntfy://ntfy.example.com/deploys'
  echo "$SLACK_URL" | docker forge notify test -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw := args[0]
			if raw == "-" {
				line, err := bufio.NewReader(dockerCli.In()).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("notify test: read the URL: %w", err)
				}
				raw = strings.TrimSpace(line)
			}
			keys, err := notify.NewKeys(nil)
			if err != nil {
				return err
			}
			ch, err := keys.Check(raw)
			if err != nil {
				return fmt.Errorf("notify test: not a notification URL: %w", err)
			}
			if http.DefaultClient.Timeout == 0 {
				http.DefaultClient.Timeout = timeout
			}
			if err := notify.Test(ch.URL, timeout); err != nil {
				return fmt.Errorf("notify test: %s did not take the message: %w", ch.Name, err)
			}
			fmt.Fprintf(dockerCli.Out(), "%s took the test message\n", ch.Name)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", notifyTimeout, "how long to wait for the channel's answer")
	return cmd
}
