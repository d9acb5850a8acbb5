package api

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/docker-forge/docker-forge/ledger"
	"github.com/docker-forge/docker-forge/webhook"
)

// NotifyChannel is one notification channel and what waits for it. Channel
// is its masked name: the URL carries credentials and is never shown.
type NotifyChannel struct {
	ledger.ChannelBacklog
	// Daemon says the channel is the daemon's (serve --notify,
	// FORGE_NOTIFY); otherwise a project's (x-forge notify) with messages
	// waiting.
	Daemon bool `json:"daemon"`
}

// Notifications lists the daemon's channels and every channel with
// messages waiting.
func (l *Local) Notifications(context.Context) ([]NotifyChannel, error) {
	backlog, err := l.Ledger.Backlog()
	if err != nil {
		return nil, err
	}
	var out []NotifyChannel
	for _, name := range l.Channels {
		b := backlog[name]
		b.Channel = name
		out = append(out, NotifyChannel{ChannelBacklog: b, Daemon: true})
		delete(backlog, name)
	}
	var rest []NotifyChannel
	for _, b := range backlog {
		rest = append(rest, NotifyChannel{ChannelBacklog: b})
	}
	slices.SortFunc(rest, func(a, b NotifyChannel) int { return strings.Compare(a.Channel, b.Channel) })
	return append(out, rest...), nil
}

func (h *handlers) notifications(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.b.Notifications(r.Context())
	if err != nil {
		return h.fail(err)
	}
	if cs == nil {
		cs = []NotifyChannel{}
	}
	return webhook.WriteJSON(w, http.StatusOK, cs)
}

// Notifications asks the daemon for its notification channels.
func (c *Client) Notifications(ctx context.Context) ([]NotifyChannel, error) {
	var cs []NotifyChannel
	err := c.do(ctx, http.MethodGet, "/api/notify", nil, &cs)
	return cs, err
}
