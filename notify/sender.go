package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/docker-forge/docker-forge/ledger"
)

// outbox is the part of the ledger the sender drains, so tests can pass a
// fake.
type outbox interface {
	Outbox(now time.Time, perChannel int) ([]ledger.OutboxEntry, error)
	Entry(key string) (ledger.OutboxEntry, bool, error)
	Delivered(key string) error
	Retry(e ledger.OutboxEntry) error
	Backlog() (map[string]ledger.ChannelBacklog, error)
	TrimOutbox(limit int) (int, error)
}

// SenderConfig configures a Sender.
type SenderConfig struct {
	Outbox   outbox
	Keys     *Keys
	Template *template.Template
	// Channels are the names of the daemon's channels, whose backlog gauge
	// shows 0 rather than nothing.
	Channels []string
	// PublicURL is the dashboard's address, for links to a project's page.
	PublicURL string
	Logger    *slog.Logger
	// Registerer receives forge_notify_backlog{channel} and
	// forge_notify_sent_total{channel,result}; nil registers none.
	Registerer prometheus.Registerer
	// Timeout bounds one attempt (default 20 s); Backoff is the first wait
	// after a failure, doubled up to MaxBackoff (defaults 1 s and 5 min).
	Timeout, Backoff, MaxBackoff time.Duration
	// MaxPerChannel bounds what waits for one channel (default 1000); past
	// it the oldest go, counted.
	MaxPerChannel int
	// Poll is how often the outbox is read when nothing wakes the sender
	// (default 1 s).
	Poll time.Duration
}

// Sender drains the outbox: each channel's messages in order, one in
// flight per channel, so a channel that is down or hangs holds back no
// other, and never a deploy.
type Sender struct {
	cfg     SenderConfig
	log     *slog.Logger
	wake    chan struct{}
	backlog *prometheus.GaugeVec
	sent    *prometheus.CounterVec
	dropped prometheus.Counter

	mu       sync.Mutex
	inflight map[string]bool
}

// NewSender returns a Sender; Run starts it.
func NewSender(cfg SenderConfig) *Sender {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.MaxPerChannel <= 0 {
		cfg.MaxPerChannel = 1000
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Template == nil {
		cfg.Template, _ = ParseTemplate("")
	}
	s := &Sender{cfg: cfg, log: cfg.Logger.With("component", "notify"), wake: make(chan struct{}, 1), inflight: map[string]bool{},
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "forge_notify_backlog", Help: "Notifications waiting for a channel."}, []string{"channel"}),
		sent:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "forge_notify_sent_total", Help: "Notification attempts by channel and result."}, []string{"channel", "result"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "forge_notify_dropped_total", Help: "Notifications dropped because their channel's backlog was full."}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.backlog, s.sent, s.dropped)
	}
	return s
}

// Wake makes the sender read the outbox now (a deploy just wrote to it).
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run drains the outbox until ctx ends; attempts in flight are left to
// finish or time out (an undelivered message stays in the outbox).
func (s *Sender) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.Poll)
	defer tick.Stop()
	trim := time.NewTicker(30 * time.Second)
	defer trim.Stop()
	s.trim()
	for {
		s.drain(ctx)
		s.gauge()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-s.wake:
		case <-trim.C:
			s.trim()
		}
	}
}

// trim drops the oldest of what a dead channel piles up past MaxPerChannel.
func (s *Sender) trim() {
	dropped, err := s.cfg.Outbox.TrimOutbox(s.cfg.MaxPerChannel)
	if err != nil {
		s.log.Warn("notification backlog not trimmed", "error", err)
		return
	}
	if dropped > 0 {
		s.dropped.Add(float64(dropped))
		s.log.Warn("notifications dropped: a channel's backlog was full", "dropped", dropped, "max_per_channel", s.cfg.MaxPerChannel)
	}
}

// gauge sets forge_notify_backlog from the outbox.
func (s *Sender) gauge() {
	bl, err := s.cfg.Outbox.Backlog()
	if err != nil {
		s.log.Warn("notification backlog not read", "error", err)
		return
	}
	s.backlog.Reset()
	for _, ch := range s.cfg.Channels {
		s.backlog.WithLabelValues(ch).Set(0)
	}
	for ch, b := range bl {
		s.backlog.WithLabelValues(ch).Set(float64(b.Waiting))
	}
}

func (s *Sender) drain(ctx context.Context) {
	due, err := s.cfg.Outbox.Outbox(time.Now(), 1)
	if err != nil {
		s.log.Warn("outbox not read", "error", err)
		return
	}
	for _, e := range due {
		s.mu.Lock()
		busy := s.inflight[e.Channel]
		s.inflight[e.Channel] = true
		s.mu.Unlock()
		if busy {
			continue
		}
		go s.deliver(ctx, e)
	}
}

// deliver makes one attempt at an entry, and records its outcome. The
// channel stays busy until the attempt returns, however long a hung
// receiver keeps it (the services' HTTP clients time out): one in flight
// per channel, at most.
func (s *Sender) deliver(ctx context.Context, due ledger.OutboxEntry) {
	channel := due.Channel
	defer func() {
		s.mu.Lock()
		delete(s.inflight, channel)
		s.mu.Unlock()
		s.Wake()
	}()
	// The outbox was read before the channel was ours: the attempt before
	// may have delivered this entry since.
	e, ok, err := s.cfg.Outbox.Entry(due.Key)
	if err != nil {
		s.log.Warn("outbox not read", "error", err)
		return
	}
	if !ok {
		return
	}
	done := make(chan error, 1)
	go func() { done <- s.attempt(e) }()
	timer := time.NewTimer(s.cfg.Timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		s.record(e, err)
	case <-timer.C:
		s.record(e, fmt.Errorf("no answer within %s", s.cfg.Timeout))
		select {
		case err := <-done:
			if err == nil {
				// It got there late: do not send it again.
				s.delivered(e)
			}
		case <-ctx.Done():
		}
	case <-ctx.Done():
		// The daemon stops: the entry stays in the outbox for the next start.
	}
}

// record writes down an attempt's outcome: delivered, or when to try again.
func (s *Sender) record(e ledger.OutboxEntry, err error) {
	if err == nil {
		s.sent.WithLabelValues(e.Channel, "ok").Inc()
		s.delivered(e)
		return
	}
	s.sent.WithLabelValues(e.Channel, "failed").Inc()
	e.Attempts++
	wait := min(s.cfg.Backoff<<min(e.Attempts-1, 20), s.cfg.MaxBackoff)
	e.NextAt, e.LastError = time.Now().Add(wait), genericError(err)
	s.log.Warn("notification not delivered; it is tried again", "channel", e.Channel, "event", e.Event, "attempts", e.Attempts, "retry_in", wait.String(), "reason", e.LastError)
	if rerr := s.cfg.Outbox.Retry(e); rerr != nil {
		s.log.Error("notification attempt not recorded", "channel", e.Channel, "error", rerr)
	}
}

func (s *Sender) delivered(e ledger.OutboxEntry) {
	if err := s.cfg.Outbox.Delivered(e.Key); err != nil {
		s.log.Error("delivered notification not recorded", "channel", e.Channel, "error", err)
		return
	}
	s.log.Debug("notification delivered", "channel", e.Channel, "event", e.Event)
}

func (s *Sender) attempt(e ledger.OutboxEntry) error {
	raw, err := s.cfg.Keys.Open(e.Sealed)
	if err != nil {
		return err
	}
	title, body, err := Render(s.cfg.Template, NewMessage(e.Event, e.Deploy, e.Text, s.cfg.PublicURL, e.Idempotency))
	if err != nil {
		return err
	}
	if err := Send(raw, title, body, fieldsOf(e)); err != nil {
		return errors.New(Scrub(err.Error(), raw))
	}
	return nil
}

// Send delivers one message to a shoutrrr URL, title as the service's
// title (an e-mail's subject) or, for a service that shows none, the
// message's first line. A generic webhook gets fields too: as JSON fields
// with ?template=json, and fields["key"] as its Idempotency-Key header
// (other services take no field they do not know).
func Send(raw, title, body string, fields map[string]string) error {
	params := types.Params{"title": title}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	service, _, _ := strings.Cut(u.Scheme, "+")
	q := u.Query()
	if untitled[service] || (service == "generic" && q.Get("template") == "") {
		body = strings.TrimSpace(title + "\n" + body)
		if service != "generic" {
			delete(params, "title")
		}
	}
	if service == "generic" {
		if key := fields["key"]; key != "" {
			q.Set("@Idempotency-Key", key)
			u.RawQuery = q.Encode()
			raw = u.String()
		}
		for k, v := range fields {
			params[k] = v
		}
	}
	r, err := router.New(nil, raw)
	if err != nil {
		return err
	}
	return errors.Join(r.Send(body, &params)...)
}

// untitled are the services that show no title: it leads their message.
var untitled = map[string]bool{
	"mattermost": true, "rocketchat": true, "googlechat": true, "signal": true, "wecom": true,
}

// fieldsOf are an entry's fields for a generic webhook.
func fieldsOf(e ledger.OutboxEntry) map[string]string {
	f := map[string]string{"event": e.Event, "key": e.Idempotency}
	if e.Deploy != nil {
		f["project"], f["deploy_id"], f["status"] = e.Deploy.Project, strconv.FormatUint(e.Deploy.ID, 10), string(e.Deploy.Status)
	}
	return f
}

// genericError is an attempt's failure as the outbox keeps it: short.
func genericError(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

// Test sends a test message to a URL now and says what the channel
// answered, without the URL's credentials.
func Test(raw string, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		done <- Send(raw, "docker-forge test", "This is a test message from docker-forge: this channel works.", map[string]string{"event": EventTest})
	}()
	select {
	case err := <-done:
		if err != nil {
			return errors.New(Scrub(err.Error(), raw))
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("no answer within %s", timeout)
	}
}
