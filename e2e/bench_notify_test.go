package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/engine"
	"github.com/docker-forge/docker-forge/ledger"
	"github.com/docker-forge/docker-forge/notify"
)

// BenchmarkDeployWithDeadChannel measures a deploy of the stack by a
// dispatcher whose notifications go to a channel that hangs (its sender
// running, its backlog growing) against one that tells no one, alternating
// in one run, and reports dead/none (goal: 1.00, no measurable cost).
func BenchmarkDeployWithDeadChannel(b *testing.B) {
	s := newBenchStack(b)
	dead := genericInbox(b, "dead-channel-token")
	release := dead.hold()
	defer release()

	led, err := ledger.Open(filepath.Join(b.TempDir(), "notified.db"), ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = led.Close() })
	keys, err := notify.NewKeys([]byte("bench key"))
	if err != nil {
		b.Fatal(err)
	}
	ch, err := keys.Check(dead.url)
	if err != nil {
		b.Fatal(err)
	}
	sender := notify.NewSender(notify.SenderConfig{Outbox: led, Keys: keys, Channels: []string{ch.Name}, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sender.Run(ctx) }()
	b.Cleanup(func() { cancel(); release(); <-done })
	eng, err := engine.New(dockerCLI(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	notified := dispatch.New(dispatch.Config{Engine: eng, Ledger: led,
		Notifier: notify.NewNotifier(notify.NotifierConfig{Keys: keys, Channels: []notify.Channel{ch}, Wake: sender.Wake})})
	plain := s.disp

	var withDead, without time.Duration
	for b.Loop() {
		s.disp = plain
		t0 := time.Now()
		s.forgeDeploy(b)
		without += time.Since(t0)
		s.bareUp(b)
		s.disp = notified
		t1 := time.Now()
		s.forgeDeploy(b)
		withDead += time.Since(t1)
		s.bareUp(b)
	}
	s.disp = plain
	bl, err := led.Backlog()
	if err != nil || bl[ch.Name].Waiting != b.N {
		b.Fatalf("dead channel's backlog = %+v, %v; want every deploy's message waiting (%d)", bl[ch.Name], err, b.N)
	}
	b.ReportMetric(float64(without.Milliseconds())/float64(b.N), "none-ms/deploy")
	b.ReportMetric(float64(withDead.Milliseconds())/float64(b.N), "dead-ms/deploy")
	b.ReportMetric(float64(withDead)/float64(without), "dead/none")
}
