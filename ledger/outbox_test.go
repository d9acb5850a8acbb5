package ledger

import (
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

func entry(channel, event string, d *forge.Deploy) OutboxEntry {
	return OutboxEntry{Channel: channel, Sealed: []byte("sealed " + channel), Event: event, Deploy: d, Created: time.Now(), Idempotency: event}
}

func TestFinishWritesTheOutboxWithTheFinalRecord(t *testing.T) {
	l, path := openTest(t, 0)
	d := forge.Deploy{Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusRunning, Queued: time.Now()}
	if err := l.Create(&d); err != nil {
		t.Fatal(err)
	}
	d.Status = forge.StatusSucceeded
	if err := l.Finish(d, nil, entry("ntfy://a#1", "deploy.succeeded", &d), entry("slack://…#2", "deploy.succeeded", &d)); err != nil {
		t.Fatal(err)
	}
	// What a daemon killed right after Finish leaves: reopen the file.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out, err := l.Outbox(time.Now(), 10)
	if err != nil || len(out) != 2 {
		t.Fatalf("outbox = %+v, %v; want the two entries", out, err)
	}
	for _, e := range out {
		if e.Deploy == nil || e.Deploy.ID != d.ID || e.Deploy.Status != forge.StatusSucceeded || e.Key == "" {
			t.Errorf("entry %+v: want deploy %d's final record and a key", e, d.ID)
		}
	}
	if got, _ := l.Get(d.ID); got.Status != forge.StatusSucceeded {
		t.Fatalf("deploy = %s, want succeeded", got.Status)
	}
}

func TestOutboxKeepsEachChannelsOrder(t *testing.T) {
	l, _ := openTest(t, 0)
	for i, ev := range []string{"one", "two", "three"} {
		if err := l.Enqueue([]OutboxEntry{entry("a", ev, nil), entry("b", ev, nil)}); err != nil {
			t.Fatalf("enqueue %d: %v", i, err)
		}
	}
	now := time.Now()
	out, _ := l.Outbox(now, 1)
	if len(out) != 2 || out[0].Event != "one" || out[1].Event != "one" {
		t.Fatalf("first of each channel = %+v, want a's and b's one", out)
	}
	// a's first waits for a retry: nothing of a's is due, b goes on.
	first := out[0]
	first.Attempts, first.NextAt, first.LastError = 1, now.Add(time.Minute), "500 Internal Server Error"
	if err := l.Retry(first); err != nil {
		t.Fatal(err)
	}
	if err := l.Delivered(out[1].Key); err != nil {
		t.Fatal(err)
	}
	out, _ = l.Outbox(now, 5)
	if len(out) != 2 || out[0].Channel != "b" || out[0].Event != "two" || out[1].Event != "three" {
		t.Fatalf("due = %+v, want b's two and three only (a's wait behind its first)", out)
	}
	bl, err := l.Backlog()
	if err != nil {
		t.Fatal(err)
	}
	if a := bl["a"]; a.Waiting != 3 || a.Attempts != 1 || a.LastError == "" || !a.NextAt.After(now) {
		t.Fatalf("a's backlog = %+v, want 3 waiting, the oldest's attempt and why", a)
	}
	if b := bl["b"]; b.Waiting != 2 {
		t.Fatalf("b's backlog = %+v, want 2", b)
	}
	out, _ = l.Outbox(now.Add(2*time.Minute), 5)
	if len(out) != 5 || out[0].Channel != "a" || out[0].Event != "one" {
		t.Fatalf("after the wait = %+v, want a's from its first", out)
	}
}

func TestTrimOutboxKeepsTheNewest(t *testing.T) {
	l, _ := openTest(t, 0)
	for _, ev := range []string{"1", "2", "3", "4"} {
		if err := l.Enqueue([]OutboxEntry{entry("dead", ev, nil), entry("live", ev, nil)}); err != nil {
			t.Fatal(err)
		}
	}
	dropped, err := l.TrimOutbox(2)
	if err != nil || dropped != 4 {
		t.Fatalf("TrimOutbox = %d, %v; want 4 dropped (2 of each channel)", dropped, err)
	}
	out, _ := l.Outbox(time.Now(), 10)
	if len(out) != 4 || out[0].Event != "3" || out[1].Event != "4" {
		t.Fatalf("kept %+v, want each channel's 3 and 4", out)
	}
}

func TestChainAndCreateFinalNotifyWithTheFinalRecord(t *testing.T) {
	l, _ := openTest(t, 0)
	failed := forge.Deploy{Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusRunning, Queued: time.Now()}
	if err := l.Create(&failed); err != nil {
		t.Fatal(err)
	}
	failed.Status = forge.StatusFailed
	rb := forge.Deploy{Project: "shop", Reason: forge.ReasonRollback, Status: forge.StatusRunning, Queued: time.Now()}
	var told forge.Deploy
	err := l.Chain(&failed, &rb, func(done, next *forge.Deploy) { done.RevertedBy, next.Reverts = next.ID, done.ID },
		nil, func(done forge.Deploy) []OutboxEntry {
			told = done
			return []OutboxEntry{entry("a", "deploy.failed", &done)}
		})
	if err != nil {
		t.Fatal(err)
	}
	if told.RevertedBy != rb.ID || told.Status != forge.StatusFailed {
		t.Fatalf("notified of %+v, want the failure linked to rollback %d", told, rb.ID)
	}
	early := forge.Deploy{Project: "blog", Reason: forge.ReasonManual, Status: forge.StatusFailed, Error: "the compose file does not load"}
	if err := l.CreateFinal(&early, func(d forge.Deploy) []OutboxEntry { return []OutboxEntry{entry("a", "deploy.failed", &d)} }); err != nil {
		t.Fatal(err)
	}
	out, _ := l.Outbox(time.Now(), 10)
	if len(out) != 2 || out[1].Deploy.ID != early.ID || early.ID == 0 {
		t.Fatalf("outbox = %+v, want the chained failure and the early one (id %d)", out, early.ID)
	}
}

func TestChannelsRoundTrip(t *testing.T) {
	l, _ := openTest(t, 0)
	if cs, err := l.Channels(); err != nil || len(cs) != 0 {
		t.Fatalf("Channels of a new ledger = %v, %v", cs, err)
	}
	want := []SealedChannel{{Name: "ntfy://a#1", Sealed: []byte{1, 2}}, {Name: "smtp://…#2", Sealed: []byte{3}}}
	if err := l.SetChannels(want); err != nil {
		t.Fatal(err)
	}
	got, err := l.Channels()
	if err != nil || len(got) != 2 || got[1].Name != want[1].Name || string(got[0].Sealed) != string(want[0].Sealed) {
		t.Fatalf("Channels = %+v, %v; want %+v", got, err, want)
	}
	if err := l.SetChannels(nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Channels(); len(got) != 0 {
		t.Fatalf("Channels after clearing = %+v", got)
	}
}
