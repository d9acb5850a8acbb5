package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

// receiver is a generic webhook on 127.0.0.1 that records what it takes;
// fail answers 500 while it returns true, and hang holds requests until
// the test ends.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []map[string]string
	keys []string
	fail func() bool
	hang chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.hang != nil {
			select {
			case <-r.hang:
			case <-req.Context().Done():
			}
			return
		}
		if r.fail != nil && r.fail() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		body, _ := io.ReadAll(req.Body)
		var m map[string]string
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("receiver: body %q is not JSON: %v", body, err)
		}
		r.mu.Lock()
		r.got = append(r.got, m)
		r.keys = append(r.keys, req.Header.Get("Idempotency-Key"))
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string {
	return "generic://" + strings.TrimPrefix(r.srv.URL, "http://") + "/hook?disabletls=yes&template=json"
}

func (r *receiver) messages() []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]string(nil), r.got...)
}

type senderEnv struct {
	led      *ledger.Ledger
	keys     *Keys
	notifier *Notifier
	sender   *Sender
	reg      *prometheus.Registry
}

func newSenderEnv(t *testing.T, cfg SenderConfig, urls ...string) *senderEnv {
	t.Helper()
	led, err := ledger.Open(filepath.Join(t.TempDir(), "forge.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = led.Close() })
	keys := testKeys(t)
	var channels []Channel
	var names []string
	for _, u := range urls {
		ch, err := keys.Check(u)
		if err != nil {
			t.Fatal(err)
		}
		channels = append(channels, ch)
		names = append(names, ch.Name)
	}
	reg := prometheus.NewRegistry()
	cfg.Outbox, cfg.Keys, cfg.Registerer, cfg.Channels = led, keys, reg, names
	cfg.Backoff, cfg.MaxBackoff, cfg.Poll = 20*time.Millisecond, 100*time.Millisecond, 10*time.Millisecond
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	s := NewSender(cfg)
	n := NewNotifier(NotifierConfig{Keys: keys, Channels: channels, Wake: s.Wake})
	return &senderEnv{led: led, keys: keys, notifier: n, sender: s, reg: reg}
}

func (e *senderEnv) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.sender.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// finish writes the notifications of a finished deploy, as the dispatcher
// does.
func (e *senderEnv) finish(t *testing.T, id uint64, status forge.Status) {
	t.Helper()
	d := forge.Deploy{ID: id, Project: "shop", Reason: forge.ReasonPush, Status: status, Error: "health gate failed: web is unhealthy",
		Services: []forge.ServiceDeploy{{Service: "web", Digest: fmt.Sprintf("sha256:%064d", id)}}}
	if err := e.led.Enqueue(e.notifier.Notifications(d, forge.Project{})); err != nil {
		t.Fatal(err)
	}
	e.notifier.Wake()
}

func (e *senderEnv) waiting(t *testing.T) int {
	t.Helper()
	bl, err := e.led.Backlog()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range bl {
		n += b.Waiting
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSenderDeliversInOrderOnce(t *testing.T) {
	r := newReceiver(t)
	e := newSenderEnv(t, SenderConfig{PublicURL: "https://forge.example.com"}, r.url())
	e.finish(t, 1, forge.StatusSucceeded)
	e.finish(t, 2, forge.StatusFailed)
	e.run(t)
	waitFor(t, "two messages", func() bool { return len(r.messages()) == 2 })
	waitFor(t, "an empty outbox", func() bool { return e.waiting(t) == 0 })
	got := r.messages()
	if got[0]["event"] != EventSucceeded || got[1]["event"] != EventFailed || got[0]["project"] != "shop" || got[1]["deploy_id"] != "2" {
		t.Fatalf("received %v, want deploy 1's success then deploy 2's failure", got)
	}
	if !strings.HasPrefix(got[1]["title"], "❌ shop: deploy 2 failed") || !strings.Contains(got[1]["message"], "https://forge.example.com/projects/shop#deploy-2") {
		t.Fatalf("message = %v, want the failure's title and the project's link", got[1])
	}
	if r.keys[0] == "" || r.keys[0] == r.keys[1] {
		t.Fatalf("idempotency keys %q: want one per notification", r.keys)
	}
	time.Sleep(100 * time.Millisecond) // a few more polls
	if n := len(r.messages()); n != 2 {
		t.Fatalf("%d messages after the outbox emptied, want 2: nothing is sent twice", n)
	}
	if v := testutil.ToFloat64(e.sender.sent.WithLabelValues(e.notifier.global[0].Name, "ok")); v != 2 {
		t.Fatalf("forge_notify_sent_total{result=ok} = %v, want 2", v)
	}
}

func TestSenderRetriesUntilTheChannelRecovers(t *testing.T) {
	r := newReceiver(t)
	var mu sync.Mutex
	down := true
	r.fail = func() bool { mu.Lock(); defer mu.Unlock(); return down }
	e := newSenderEnv(t, SenderConfig{}, r.url())
	e.run(t)
	e.finish(t, 1, forge.StatusSucceeded)
	name := e.notifier.global[0].Name
	waitFor(t, "failed attempts", func() bool { return testutil.ToFloat64(e.sender.sent.WithLabelValues(name, "failed")) >= 3 })
	bl, _ := e.led.Backlog()
	if b := bl[name]; b.Waiting != 1 || b.Attempts == 0 || !strings.Contains(b.LastError, "500") {
		t.Fatalf("backlog = %+v, want the message waiting with its failed attempts and why", b)
	}
	if strings.Contains(bl[name].LastError, r.srv.URL) {
		t.Fatalf("the recorded failure %q shows the URL", bl[name].LastError)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	waitFor(t, "delivery after recovery", func() bool { return len(r.messages()) == 1 })
	waitFor(t, "an empty outbox", func() bool { return e.waiting(t) == 0 })
}

func TestHungChannelHoldsBackNoOther(t *testing.T) {
	hung, ok := newReceiver(t), newReceiver(t)
	hung.hang = make(chan struct{})
	t.Cleanup(func() { close(hung.hang) }) // before the servers close
	e := newSenderEnv(t, SenderConfig{Timeout: 200 * time.Millisecond}, hung.url(), ok.url())
	e.run(t)
	for id := uint64(1); id <= 3; id++ {
		e.finish(t, id, forge.StatusSucceeded)
	}
	waitFor(t, "the working channel's three messages", func() bool { return len(ok.messages()) == 3 })
	hungName := e.notifier.global[0].Name
	waitFor(t, "the hung channel's attempt to time out", func() bool {
		return testutil.ToFloat64(e.sender.sent.WithLabelValues(hungName, "failed")) >= 1
	})
	bl, _ := e.led.Backlog()
	if bl[hungName].Waiting != 3 {
		t.Fatalf("hung channel's backlog = %+v, want its 3 messages kept", bl[hungName])
	}
	if v := testutil.ToFloat64(e.sender.backlog.WithLabelValues(hungName)); v != 3 {
		t.Fatalf("forge_notify_backlog{channel=hung} = %v, want 3", v)
	}
}

func TestDeadChannelBacklogIsBounded(t *testing.T) {
	r := newReceiver(t)
	r.fail = func() bool { return true }
	e := newSenderEnv(t, SenderConfig{MaxPerChannel: 3}, r.url())
	for id := uint64(1); id <= 5; id++ {
		e.finish(t, id, forge.StatusSucceeded)
	}
	e.sender.trim()
	if n := e.waiting(t); n != 3 {
		t.Fatalf("%d waiting after a trim, want the newest 3", n)
	}
	if v := testutil.ToFloat64(e.sender.dropped); v != 2 {
		t.Fatalf("forge_notify_dropped_total = %v, want 2", v)
	}
	out, _ := e.led.Outbox(time.Now(), 10)
	if len(out) != 3 || out[0].Deploy.ID != 3 {
		t.Fatalf("kept %d entries starting at deploy %d, want deploys 3-5", len(out), out[0].Deploy.ID)
	}
}

// staleOutbox answers Outbox with what it read first, as a read that
// raced the delivery before it would, until fresh is set.
type staleOutbox struct {
	*ledger.Ledger
	mu    sync.Mutex
	first []ledger.OutboxEntry
	fresh bool
}

func (s *staleOutbox) Outbox(now time.Time, perChannel int) ([]ledger.OutboxEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh {
		return s.Ledger.Outbox(now, perChannel)
	}
	if s.first == nil {
		out, err := s.Ledger.Outbox(now, perChannel)
		if err != nil || len(out) == 0 {
			return out, err
		}
		s.first = out
	}
	return s.first, nil
}

func TestStaleOutboxReadSendsNothingTwice(t *testing.T) {
	r := newReceiver(t)
	e := newSenderEnv(t, SenderConfig{}, r.url())
	e.finish(t, 1, forge.StatusSucceeded)
	stale := &staleOutbox{Ledger: e.led}
	e.sender.cfg.Outbox = stale
	e.run(t)
	waitFor(t, "the message", func() bool { return len(r.messages()) == 1 })
	time.Sleep(200 * time.Millisecond) // twenty polls, each offering the delivered entry again
	if n := len(r.messages()); n != 1 {
		t.Fatalf("the receiver took %d messages, want 1", n)
	}
	// The channel is not left busy by the entry it found delivered.
	stale.mu.Lock()
	stale.fresh = true
	stale.mu.Unlock()
	e.finish(t, 2, forge.StatusSucceeded)
	waitFor(t, "the next message", func() bool { return len(r.messages()) == 2 })
}
