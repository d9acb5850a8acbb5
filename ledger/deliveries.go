package ledger

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketDeliveries holds webhook delivery ids seen recently: key -> the
// big-endian unix nanoseconds when first claimed. It survives restarts, so a
// replayed delivery is refused after one too.
var bucketDeliveries = []byte("deliveries")

// pruneEvery is how many claims pass between sweeps of expired deliveries.
const pruneEvery = 256

// Claim records a webhook delivery id and reports whether it is fresh: false
// when the same id was claimed less than window ago. Expired ids are swept
// now and then, so the bucket holds about one window of deliveries.
func (l *Ledger) Claim(key string, now time.Time, window time.Duration) (bool, error) {
	fresh := false
	err := l.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketDeliveries)
		if err != nil {
			return err
		}
		if v := b.Get([]byte(key)); len(v) == 8 {
			seen := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			if now.Sub(seen) < window {
				return nil
			}
		}
		fresh = true
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, uint64(now.UnixNano()))
		if err := b.Put([]byte(key), v); err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if seq%pruneEvery == 0 {
			return sweep(b, now, window)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("claim delivery: %w", err)
	}
	return fresh, nil
}

// Release forgets a claimed delivery, so a retry of a delivery that could not
// be queued is not refused as a duplicate.
func (l *Ledger) Release(key string) error {
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeliveries)
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("release delivery: %w", err)
	}
	return nil
}

// Deliveries counts the delivery ids held, expired or not.
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

func sweep(b *bolt.Bucket, now time.Time, window time.Duration) error {
	var stale [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if len(v) != 8 || now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(v)))) >= window {
			stale = append(stale, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range stale {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
