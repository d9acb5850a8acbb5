package ledger

import (
	"fmt"
	"path/filepath"
	"sync"
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
		got, err := l.Claim([]string{s.key}, s.at, time.Hour)
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
	if fresh, err := l.Claim([]string{"github:abc"}, t0.Add(30*time.Minute), time.Hour); err != nil || fresh {
		t.Fatalf("after a restart, a replay inside the window was accepted: %v %v", fresh, err)
	}
	if fresh, err := l.Claim([]string{"github:abc"}, t0.Add(2*time.Hour), time.Hour); err != nil || !fresh {
		t.Fatalf("after the window, the id was still refused: %v %v", fresh, err)
	}
	if err := l.Release([]string{"github:def"}); err != nil {
		t.Fatal(err)
	}
	if fresh, _ := l.Claim([]string{"github:def"}, t0.Add(2*time.Minute), time.Hour); !fresh {
		t.Fatal("a released delivery was refused")
	}
}

func TestClaimSweepsExpiredDeliveries(t *testing.T) {
	l, _ := openTest(t, 0)
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for i := range 768 {
		if _, err := l.Claim([]string{fmt.Sprintf("generic:%d", i)}, t0.Add(time.Duration(i)*time.Second), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	n, err := l.Deliveries()
	if err != nil {
		t.Fatal(err)
	}
	// About one window (60 ids) plus what arrived since the last sweep, a
	// window at most before.
	if n > 2*60+1 {
		t.Fatalf("%d deliveries held for a one-minute window at one per second", n)
	}
}

// Deliveries (test only) counts the delivery ids held on disk, expired or not.
func (l *Ledger) Deliveries() (int, error) {
	n := 0
	err := l.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketDeliveries); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}

// TestClaimIsOnDiskWhenItReturns: a fresh claim is written before Claim
// returns (a webhook answered 202 is refused after a crash too), and many
// claims at once are all written.
func TestClaimIsOnDiskWhenItReturns(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "forge.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Now()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			key := fmt.Sprintf("delivery-%d", i)
			fresh, err := l.Claim([]string{key}, now, time.Hour)
			if err != nil || !fresh {
				t.Errorf("claim %s: %v, %v", key, fresh, err)
				return
			}
			_ = l.db.View(func(tx *bolt.Tx) error {
				if b := tx.Bucket(bucketDeliveries); b == nil || b.Get([]byte(key)) == nil {
					t.Errorf("claim %s returned before it was on disk", key)
				}
				return nil
			})
		})
	}
	wg.Wait()
}
