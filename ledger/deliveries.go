package ledger

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketDeliveries holds webhook delivery ids seen recently: key -> the
// big-endian unix nanoseconds when first claimed. It survives restarts, so a
// replayed delivery is refused after one too.
var bucketDeliveries = []byte("deliveries")

// sweepEvery is how often, at most, expired deliveries are swept: a sweep
// reads the whole bucket, which a busy listener must not do every few
// hundred claims.
const sweepEvery = time.Minute

// claims is the in-memory face of the deliveries bucket. Claim decides in
// memory, then writes its keys through the ledger's group commit and waits
// for it, so a delivery answered 202 is refused after a crash too; claims
// (and queued deploys) that arrive together share one disk sync.
type claims struct {
	mu     sync.Mutex
	loaded bool
	seen   map[string]time.Time
	swept  time.Time // when expired keys were last swept
}

// Claim records the keys naming one webhook delivery, all or none, and
// reports whether it is fresh: false when one of them was claimed less than
// window ago. A fresh claim is on disk when Claim returns; one that could
// not be written is forgotten and its error returned.
func (l *Ledger) Claim(keys []string, now time.Time, window time.Duration) (bool, error) {
	c := l.claims
	c.mu.Lock()
	if err := l.loadClaims(); err != nil {
		c.mu.Unlock()
		return false, err
	}
	for _, key := range keys {
		if at, ok := c.seen[key]; ok && now.Sub(at) < window {
			c.mu.Unlock()
			return false, nil
		}
	}
	for _, key := range keys {
		c.seen[key] = now
	}
	var sweepAt time.Time
	if now.Sub(c.swept) >= min(sweepEvery, window) {
		c.swept, sweepAt = now, now
		for k, at := range c.seen {
			if now.Sub(at) >= window {
				delete(c.seen, k)
			}
		}
	}
	c.mu.Unlock()
	if err := l.writeClaims(keys, sweepAt, window); err != nil {
		c.mu.Lock()
		for _, key := range keys {
			if c.seen[key].Equal(now) {
				delete(c.seen, key) // not on disk: a retry is not a duplicate
			}
		}
		c.mu.Unlock()
		return false, fmt.Errorf("claim delivery: %w", err)
	}
	return true, nil
}

// Release forgets the keys of a claimed delivery, so a retry of a delivery
// that could not be queued is not refused as a duplicate.
func (l *Ledger) Release(keys []string) error {
	c := l.claims
	c.mu.Lock()
	if err := l.loadClaims(); err != nil {
		c.mu.Unlock()
		return err
	}
	for _, key := range keys {
		delete(c.seen, key)
	}
	c.mu.Unlock()
	if err := l.writeClaims(keys, time.Time{}, 0); err != nil {
		return fmt.Errorf("release delivery: %w", err)
	}
	return nil
}

// writeClaims writes the keys' states as memory holds them when the commit
// runs (a claim and a release racing end as memory says): a time is put,
// a forgotten key deleted. With sweepAt, keys expired then are swept too.
func (l *Ledger) writeClaims(keys []string, sweepAt time.Time, window time.Duration) error {
	c := l.claims
	return l.group.do(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketDeliveries)
		if err != nil {
			return err
		}
		c.mu.Lock()
		state := make(map[string]time.Time, len(keys))
		for _, k := range keys {
			state[k] = c.seen[k]
		}
		c.mu.Unlock()
		for k, at := range state {
			if at.IsZero() {
				if err := b.Delete([]byte(k)); err != nil {
					return err
				}
				continue
			}
			v := make([]byte, 8)
			binary.BigEndian.PutUint64(v, uint64(at.UnixNano()))
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		if !sweepAt.IsZero() {
			return sweepBucket(b, sweepAt, window)
		}
		return nil
	})
}

// loadClaims reads the bucket into memory once. c.mu is held.
func (l *Ledger) loadClaims() error {
	c := l.claims
	if c.loaded {
		return nil
	}
	c.seen = map[string]time.Time{}
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeliveries)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) == 8 {
				c.seen[string(k)] = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("load deliveries: %w", err)
	}
	c.loaded = true
	return nil
}

func sweepBucket(b *bolt.Bucket, now time.Time, window time.Duration) error {
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
	return deleteEach(stale, b.Delete)
}
