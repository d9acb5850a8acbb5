package ledger

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestGroupCommitsTogetherAndAlone: writes arriving together share
// commits, each gets its own outcome (one failing write fails no other),
// and a write after a quiet spell is committed on its own, at once.
func TestGroupCommitsTogetherAndAlone(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := &group{db: db}
	put := func(k string, fail bool) error {
		return g.do(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			if fail {
				return errors.New("refused")
			}
			return b.Put([]byte(k), []byte("v"))
		})
	}
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = put(string(rune('A'+i)), i == 7) })
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 7) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	_ = db.View(func(tx *bolt.Tx) error {
		if got := tx.Bucket([]byte("b")).Stats().KeyN; got != n-1 {
			t.Errorf("%d keys stored, want %d (all but the refused one)", got, n-1)
		}
		return nil
	})
	if err := put("alone", false); err != nil {
		t.Fatal(err)
	}
}
