package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/api"
)

// note is one message a receiver took.
type note struct {
	Title, Body, Event, Key string
}

// inbox is a notification receiver on 127.0.0.1 that records what it takes.
// While down it answers 500; while hung it holds each request until
// released (and records nothing: nothing was answered).
type inbox struct {
	url string // the shoutrrr URL that reaches it

	mu    sync.Mutex
	notes []note
	down  bool
	hang  chan struct{}
	held  int
	calls int
}

func (in *inbox) take(n note) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.notes = append(in.notes, n)
}

func (in *inbox) got() []note {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.notes)
}

func (in *inbox) setDown(down bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.down = down
}

// hold makes the receiver hang; release ends it.
func (in *inbox) hold() (release func()) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.hang = make(chan struct{})
	ch := in.hang
	var once sync.Once
	return func() {
		once.Do(func() {
			in.mu.Lock()
			in.hang = nil
			in.mu.Unlock()
			close(ch)
		})
	}
}

func (in *inbox) heldNow() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.held
}

// gate answers for the receiver's state: false when the request is not to
// be taken (answered 500, or held and dropped).
func (in *inbox) gate(w http.ResponseWriter, r *http.Request) bool {
	in.mu.Lock()
	in.calls++
	hang, down := in.hang, in.down
	if hang != nil {
		in.held++
	}
	in.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		in.mu.Lock()
		in.held--
		in.mu.Unlock()
		return false
	}
	if down {
		http.Error(w, "receiver down", http.StatusInternalServerError)
		return false
	}
	return true
}

func serveInbox(t testing.TB, in *inbox, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { // before the server closes: let held requests go
		in.mu.Lock()
		if in.hang != nil {
			close(in.hang)
			in.hang = nil
		}
		in.mu.Unlock()
	})
	return strings.TrimPrefix(srv.URL, "http://")
}

// genericInbox is a webhook taking shoutrrr's generic JSON; path carries a
// token, as real webhook URLs do.
func genericInbox(t testing.TB, token string) *inbox {
	in := &inbox{}
	host := serveInbox(t, in, func(w http.ResponseWriter, r *http.Request) {
		if !in.gate(w, r) {
			return
		}
		var m map[string]string
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.URL.Path != "/hooks/"+token {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		in.take(note{Title: m["title"], Body: m["message"], Event: m["event"], Key: r.Header.Get("Idempotency-Key")})
	})
	in.url = "generic://" + host + "/hooks/" + token + "?disabletls=yes&template=json"
	return in
}

// slackInbox takes Slack-style incoming webhooks ({"text": ...}), as
// Mattermost serves them at /hooks/TOKEN.
func slackInbox(t testing.TB, token string) *inbox {
	in := &inbox{}
	host := serveInbox(t, in, func(w http.ResponseWriter, r *http.Request) {
		if !in.gate(w, r) {
			return
		}
		var m struct {
			Text string `json:"text"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.URL.Path != "/hooks/"+token {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		title, body, _ := strings.Cut(m.Text, "\n")
		in.take(note{Title: title, Body: body})
		_, _ = io.WriteString(w, "ok")
	})
	in.url = "mattermost://" + host + "/" + token + "?disabletls=yes"
	return in
}

// ntfyInbox takes ntfy publishes: POST /TOPIC, the title in a header.
func ntfyInbox(t testing.TB, topic string) *inbox {
	in := &inbox{}
	host := serveInbox(t, in, func(w http.ResponseWriter, r *http.Request) {
		if !in.gate(w, r) {
			return
		}
		b, _ := io.ReadAll(r.Body)
		body := string(b)
		var s string
		if json.Unmarshal(b, &s) == nil {
			body = s
		}
		if r.URL.Path != "/"+topic {
			http.Error(w, "no such topic", http.StatusNotFound)
			return
		}
		in.take(note{Title: r.Header.Get("Title"), Body: body})
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"id":"m%d","time":%d,"event":"message","topic":%q}`, len(in.got()), time.Now().Unix(), topic)
	})
	in.url = "ntfy://" + host + "/" + topic + "?disabletls=yes"
	return in
}

// smtpInbox is an SMTP server on 127.0.0.1 that keeps every mail.
func smtpInbox(t testing.TB) *inbox {
	in := &inbox{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{in: in}, nil }))
	s.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	in.url = "smtp://" + ln.Addr().String() + "/?from=forge@example.test&to=ops@example.test&auth=None&encryption=None&usestarttls=no"
	return in
}

type smtpSession struct{ in *inbox }

func (s *smtpSession) Reset()                                    {}
func (s *smtpSession) Logout() error                             { return nil }
func (s *smtpSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error { return nil }
func (s *smtpSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(m.Body)
	s.in.take(note{Title: subject, Body: strings.ReplaceAll(string(b), "\r\n", "\n")})
	return nil
}

// waitNotes waits until in took n messages.
func waitNotes(t testing.TB, name string, in *inbox, n int) []note {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := in.got()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s took %d messages, want %d: %+v", name, len(got), n, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNotificationsOfDeploys: the daemon's channels (a generic webhook, a
// Slack-compatible one, ntfy from FORGE_NOTIFY) and the project's own
// (SMTP, from x-forge) each hear of a succeeded push deploy, a failed one
// rolled back automatically, and a manual rollback, with the digests, the
// deploy and a link, and no credential anywhere.
func TestNotificationsOfDeploys(t *testing.T) {
	const (
		hookToken  = "gen-hook-token-7f3a9c"
		slackToken = "slack-hook-token-91bd2e"
		topic      = "forge-deploys-5e81"
	)
	gen, slack, ntfy, mailbox := genericInbox(t, hookToken), slackInbox(t, slackToken), ntfyInbox(t, topic), smtpInbox(t)
	inboxes := map[string]*inbox{"generic": gen, "slack": slack, "ntfy": ntfy, "smtp": mailbox}
	t.Setenv("FORGE_NOTIFY", ntfy.url)
	st := newPushStack(t, "notify", true, "--notify", gen.url, "--notify", slack.url, "--public-url", "https://forge.example.test")
	e, project, ref := st.e, st.project, st.ref

	e.importImageFiles(ref, "v1", map[string]string{"healthy": "yes\n"})
	d1 := e.push(ref)
	compose := writeCompose(t, fmt.Sprintf(`x-forge:
  notify: [%q]
services:
  web:
    image: %s
    init: true
    labels:
      forge.enable: "true"
      forge.health-timeout: 30s
    healthcheck:
      test: ["CMD", "/bin/sh", "-c", "test -f /www/healthy"]
      interval: 1s
      timeout: 1s
      retries: 2
`, mailbox.url, ref))
	var first forge.Deploy
	e.forgeJSON(&first, "deploy", "-f", compose, "-p", project)
	if first.Status != forge.StatusSucceeded {
		t.Fatalf("first deploy = %+v", first)
	}

	e.importImageFiles(ref, "v2", map[string]string{"healthy": "yes\n"})
	d2 := e.push(ref)
	h := e.waitFor(project, func(h []forge.Deploy) bool { return len(h) >= 2 && h[0].Status == forge.StatusSucceeded })
	pushed := h[0]
	e.importImage(ref, "v3") // no /www/healthy: the health gate fails
	e.push(ref)
	h = e.waitFor(project, func(h []forge.Deploy) bool { return h[0].Reason == forge.ReasonRollback })
	auto, failed := h[0], h[1]
	var manual forge.Deploy
	e.forgeJSON(&manual, "rollback", project, "--to", fmt.Sprint(first.ID))
	if manual.Status != forge.StatusSucceeded {
		t.Fatalf("manual rollback = %+v", manual)
	}

	want := []string{
		fmt.Sprintf("✅ %s: deploy %d succeeded", project, first.ID),
		fmt.Sprintf("✅ %s: deploy %d succeeded", project, pushed.ID),
		fmt.Sprintf("❌ %s: deploy %d failed: health gate failed: web is unhealthy (rolled back by deploy %d)", project, failed.ID, auto.ID),
		fmt.Sprintf("↩ %s: deploy %d rolled back failed deploy %d automatically", project, auto.ID, failed.ID),
		fmt.Sprintf("↩ %s: deploy %d rolled back to deploy %d", project, manual.ID, first.ID),
	}
	for name, in := range inboxes {
		got := waitNotes(t, name, in, len(want))
		var titles []string
		for _, n := range got {
			titles = append(titles, n.Title)
		}
		if !slices.Equal(titles, want) {
			t.Errorf("%s took titles\n  %s\nwant\n  %s", name, strings.Join(titles, "\n  "), strings.Join(want, "\n  "))
			continue
		}
		push := got[1].Body
		t.Logf("%s took, for the push deploy:\n%s\n%s", name, got[1].Title, push)
		for _, part := range []string{
			"web: " + d1[:19] + " → " + d2[:19] + " (new digest)",
			"push · distribution",
			fmt.Sprintf("deploy %d", pushed.ID),
			fmt.Sprintf("https://forge.example.test/projects/%s?context=default#deploy-%d", project, pushed.ID),
		} {
			if !strings.Contains(push, part) {
				t.Errorf("%s: the push deploy's message lacks %q:\n%s", name, part, push)
			}
		}
		if !strings.Contains(got[4].Body, "by ") {
			t.Errorf("%s: the manual rollback's message does not say who: %q", name, got[4].Body)
		}
	}
	events := []string{"deploy.succeeded", "deploy.succeeded", "deploy.failed", "rollback.auto", "rollback.manual"}
	var keys []string
	for i, n := range gen.got() {
		if n.Event != events[i] || n.Key == "" || slices.Contains(keys, n.Key) {
			t.Errorf("generic message %d: event %q, key %q; want %s and a key of its own", i, n.Event, n.Key, events[i])
		}
		keys = append(keys, n.Key)
	}

	// notify ls shows the daemon's channels masked, with nothing waiting.
	var channels []api.NotifyChannel
	e.forgeJSON(&channels, "notify", "ls")
	if len(channels) != 3 {
		t.Errorf("notify ls = %+v, want the daemon's 3 channels", channels)
	}
	for _, c := range channels {
		if c.Waiting != 0 || !c.Daemon {
			t.Errorf("channel %+v: want the daemon's, nothing waiting", c)
		}
	}
	ls := e.docker("forge", "notify", "ls")

	// docker forge notify test: the answer of a channel that works, and of
	// one that does not.
	if out := e.docker("forge", "notify", "test", gen.url); !strings.Contains(out, "took the test message") {
		t.Errorf("notify test of a working channel: %s", out)
	}
	gen.setDown(true)
	out, err := e.tryDocker("forge", "notify", "test", gen.url)
	if err == nil || !strings.Contains(out, "500") {
		t.Errorf("notify test of a channel answering 500: %v\n%s", err, out)
	}

	ledgerBytes, err := os.ReadFile(filepath.Join(e.dataDir, "forge.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{hookToken, slackToken, topic, registryPassword} {
		for where, text := range map[string]string{"daemon log": st.d.Log(), "ledger": string(ledgerBytes), "notify ls": ls, "notify test": out} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds %q", where, secret)
			}
		}
	}
}

// TestNotificationsSurviveOutagesAndKill: a channel that hangs holds back
// no deploy and no other channel; one that answers 500 keeps its messages
// waiting (in notify ls and /metrics); after a SIGKILL, a deploy by the CLI
// alone and a restart, each waiting message arrives once and none delivered
// before comes again.
func TestNotificationsSurviveOutagesAndKill(t *testing.T) {
	good, stuck := genericInbox(t, "good-token-1234"), genericInbox(t, "stuck-token-5678")
	st := newPushStack(t, "notify-kill", false, "--notify", good.url, "--notify", stuck.url)
	e, project, ref := st.e, st.project, st.ref
	e.importImage(ref, "v1")
	e.push(ref)
	compose := writeCompose(t, fmt.Sprintf(`services:
  web:
    image: %s
    init: true
    labels:
      forge.enable: "true"
      forge.settle: "200ms"
`, ref))
	release := stuck.hold()
	defer release()
	var ids []uint64
	for range 3 {
		var d forge.Deploy
		e.forgeJSON(&d, "deploy", "-f", compose, "-p", project)
		if d.Status != forge.StatusSucceeded {
			t.Fatalf("deploy = %+v", d)
		}
		ids = append(ids, d.ID)
	}
	waitNotes(t, "the working channel", good, 3)
	if stuck.heldNow() != 1 {
		t.Fatalf("the hung channel holds %d requests, want 1: one in flight per channel", stuck.heldNow())
	}

	good.setDown(true)
	var d forge.Deploy
	e.forgeJSON(&d, "deploy", "-f", compose, "-p", project)
	ids = append(ids, d.ID)
	var channels []api.NotifyChannel
	for range 100 {
		e.forgeJSON(&channels, "notify", "ls")
		if len(channels) == 2 && channels[0].Attempts > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(channels) != 2 || channels[0].Waiting != 1 || channels[0].Attempts == 0 || !strings.Contains(channels[0].LastError, "500") || channels[1].Waiting != 4 {
		t.Fatalf("notify ls = %+v, want the down channel's message waiting after a 500, and the hung one's 4", channels)
	}
	metrics := get("http://" + st.d.addr + "/metrics")
	if !strings.Contains(metrics, fmt.Sprintf("forge_notify_backlog{channel=%q} 4", channels[1].Channel)) {
		t.Errorf("/metrics lacks the hung channel's backlog of 4:\n%s", grepLines(metrics, "forge_notify"))
	}

	_ = st.d.cmd.Process.Kill() // SIGKILL with four messages waiting
	<-st.d.done
	// A deploy the CLI runs itself while the daemon is down tells the
	// daemon's channels too, once the daemon runs.
	e.forgeJSON(&d, "deploy", "-f", compose, "-p", project)
	ids = append(ids, d.ID)
	good.setDown(false)
	release()
	e.startDaemon(st.secret, "--notify", good.url, "--notify", stuck.url)

	waitNotes(t, "the working channel", good, 5)
	waitNotes(t, "the channel that hung", stuck, 5)
	time.Sleep(2 * time.Second) // a few more of the sender's polls: nothing comes twice
	for name, in := range map[string]*inbox{"working": good, "hung": stuck} {
		got := in.got()
		if len(got) != len(ids) {
			t.Errorf("the %s channel took %d messages, want %d (one per deploy, none twice)", name, len(got), len(ids))
		}
		for i, n := range got {
			if i < len(ids) && !strings.Contains(n.Title, fmt.Sprintf("deploy %d succeeded", ids[i])) {
				t.Errorf("the %s channel's message %d = %q, want deploy %d's, in order", name, i, n.Title, ids[i])
			}
		}
	}
}

// TestServeRefusesABadNotifyURL: a notify URL that cannot work refuses to
// start serve, naming the entry, masked.
func TestServeRefusesABadNotifyURL(t *testing.T) {
	e := newEnv(t, "")
	for _, tt := range []struct {
		name  string
		args  []string
		env   string
		entry string
	}{
		{name: "unknown service", args: []string{"--notify", "ntfy://ntfy.example.com/ok", "--notify", "nosuch://alice:s3cret-pw@example.com/x"}, entry: "--notify #2"},
		{name: "in FORGE_NOTIFY", env: "ntfy://ntfy.example.com/ok slack://s3cret-pw", entry: "FORGE_NOTIFY entry 2"},
	} {
		cmd := exec.Command(forgeBin, append([]string{"serve", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t))}, tt.args...)...)
		cmd.Env = append(e.environ(), "FORGE_WEBHOOK_SECRET=x", "FORGE_NOTIFY="+tt.env)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%s: serve started", tt.name)
			continue
		}
		if !strings.Contains(string(out), tt.entry) || !strings.Contains(string(out), "is not a notification URL") {
			t.Errorf("%s: serve said %q, want it to name %s", tt.name, out, tt.entry)
		}
		if strings.Contains(string(out), "s3cret-pw") || strings.Contains(string(out), "alice") {
			t.Errorf("%s: serve's error shows the URL's credentials: %s", tt.name, out)
		}
	}
}

func grepLines(text, part string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, part) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
