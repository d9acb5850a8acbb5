package notify

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

// Notifier makes the outbox entries of what the dispatcher did: one per
// event and channel, the channel's URL sealed. The dispatcher writes them
// in the transaction that finishes the deploy.
type Notifier struct {
	keys      *Keys
	global    []Channel
	unmatched bool
	wake      func()
	log       *slog.Logger
	now       func() time.Time
}

// NotifierConfig configures a Notifier.
type NotifierConfig struct {
	Keys *Keys
	// Channels are told of every project (serve --notify, FORGE_NOTIFY).
	Channels []Channel
	// Unmatched tells the channels of a push nothing took too.
	Unmatched bool
	// Wake is called when the outbox has new entries (Sender.Wake).
	Wake   func()
	Logger *slog.Logger
}

// NewNotifier returns a Notifier.
func NewNotifier(cfg NotifierConfig) *Notifier {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{keys: cfg.Keys, global: cfg.Channels, unmatched: cfg.Unmatched, wake: cfg.Wake, log: log.With("component", "notify"), now: time.Now}
}

// Notifications are the entries of a finished deploy of project p: to the
// daemon's channels and the project's own (x-forge notify), when the
// forge.notify filters of its services let the event through.
func (n *Notifier) Notifications(d forge.Deploy, p forge.Project) []ledger.OutboxEntry {
	event := EventOf(d)
	if event == "" {
		return nil
	}
	filters := map[string]string{}
	for _, s := range p.Services {
		if f := strings.TrimSpace(s.Labels[LabelNotify]); f != "" {
			filters[s.Name] = f
		}
	}
	if !Wanted(event, d, filters) {
		return nil
	}
	channels := append([]Channel(nil), n.global...)
	for _, raw := range p.Notify {
		ch, err := n.keys.Check(raw)
		if err != nil {
			n.log.Warn("project notify URL skipped", "project", d.Project, "error", err)
			continue
		}
		channels = append(channels, ch)
	}
	copyOf := d
	var out []ledger.OutboxEntry
	seen := map[string]bool{}
	for _, ch := range channels {
		if seen[ch.Name] {
			continue
		}
		seen[ch.Name] = true
		out = append(out, ledger.OutboxEntry{
			Idempotency: fmt.Sprintf("forge-%s-deploy-%d-%s", d.Project, d.ID, event), Channel: ch.Name, Sealed: n.keys.Seal(ch.URL),
			Event: event, Deploy: &copyOf, Created: n.now(),
		})
	}
	return out
}

// Unmatched are the entries of a push nothing took, when asked for.
func (n *Notifier) Unmatched(events []forge.Event, why string) []ledger.OutboxEntry {
	if !n.unmatched || len(events) == 0 {
		return nil
	}
	var what []string
	for _, e := range events {
		what = append(what, e.Provider+" "+e.Image())
	}
	text := fmt.Sprintf("push received, nothing deployed: %s (%s)", strings.Join(what, ", "), why)
	var out []ledger.OutboxEntry
	for _, ch := range n.global {
		out = append(out, ledger.OutboxEntry{
			Idempotency: fmt.Sprintf("forge-push-%s-%d", events[0].Delivery, n.now().UnixNano()), Channel: ch.Name,
			Sealed: n.keys.Seal(ch.URL), Event: EventUnmatched, Text: text, Created: n.now(),
		})
	}
	return out
}

// Wake says the outbox has new entries.
func (n *Notifier) Wake() {
	if n.wake != nil {
		n.wake()
	}
}
