package ledger

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestClaimRefusesReplaysWithinTheWindowAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "forge.db")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		name string
		key  string
		at   time.Time
		want bool
	}{
		{"first delivery", "github:abc", t0, true},
		{"same id soon after", "github:abc", t0.Add(time.Minute), false},
		{"same id from another provider", "gitea:abc", t0.Add(time.Minute), true},
		{"another id", "github:def", t0.Add(time.Minute), true},
	}
	for _, s := range steps {
		got, err := l.Claim(s.key, s.at, time.Hour)
		if err != nil || got != s.want {
			t.Fatalf("%s: Claim = %v, %v; want %v", s.name, got, err, s.want)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if fresh, err := l.Claim("github:abc", t0.Add(30*time.Minute), time.Hour); err != nil || fresh {
		t.Fatalf("after a restart, a replay inside the window was accepted: %v %v", fresh, err)
	}
	if fresh, err := l.Claim("github:abc", t0.Add(2*time.Hour), time.Hour); err != nil || !fresh {
		t.Fatalf("after the window, the id was still refused: %v %v", fresh, err)
	}
	if err := l.Release("github:def"); err != nil {
		t.Fatal(err)
	}
	if fresh, _ := l.Claim("github:def", t0.Add(2*time.Minute), time.Hour); !fresh {
		t.Fatal("a released delivery was refused")
	}
}

func TestClaimSweepsExpiredDeliveries(t *testing.T) {
	l, _ := openTest(t, 0)
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for i := range 3 * pruneEvery {
		if _, err := l.Claim(fmt.Sprintf("generic:%d", i), t0.Add(time.Duration(i)*time.Second), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	n, err := l.Deliveries()
	if err != nil {
		t.Fatal(err)
	}
	// About one window (60 ids) plus what arrived since the last sweep.
	if n > 60+pruneEvery {
		t.Fatalf("%d deliveries held for a one-minute window at one per second", n)
	}
}

// Deliveries (test only) counts the delivery ids held on disk, expired or not, once the
// writes in flight have landed.
func (l *Ledger) Deliveries() (int, error) {
	l.claims.writes.Wait()
	n := 0
	err := l.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketDeliveries); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}
