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

// pruneEvery is how many claims pass between sweeps of expired deliveries.
const pruneEvery = 256

// claims is the in-memory face of the deliveries bucket. A webhook's answer
// must not wait on a disk sync, so Claim decides in memory and the bucket is
// written behind it, in batches; Close waits for those writes. A crash can
// lose the last few milliseconds of claims, which at worst lets a sender's
// redelivery of them through: a deploy of what already runs, which changes
// nothing.
type claims struct {
	mu       sync.Mutex
	loaded   bool
	seen     map[string]time.Time
	n        int
	window   time.Duration
	pending  map[string]bool // keys whose state is not on disk yet
	sweepAt  time.Time       // when set, the next write sweeps keys expired at that time
	flushing bool            // a writer is draining pending
	writes   sync.WaitGroup
	lastErr  error
}

// Claim records a webhook delivery id and reports whether it is fresh: false
// when the same id was claimed less than window ago.
func (l *Ledger) Claim(key string, now time.Time, window time.Duration) (bool, error) {
	c := &l.claims
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := l.loadClaims(); err != nil {
		return false, err
	}
	if c.lastErr != nil {
		err := c.lastErr
		c.lastErr = nil
		return false, fmt.Errorf("claim delivery: an earlier write failed: %w", err)
	}
	if at, ok := c.seen[key]; ok && now.Sub(at) < window {
		return false, nil
	}
	c.seen[key] = now
	c.window = window
	c.n++
	if c.n%pruneEvery == 0 {
		for k, at := range c.seen {
			if now.Sub(at) >= window {
				delete(c.seen, k)
			}
		}
		c.sweepAt = now
	}
	l.writeBehind(key)
	return true, nil
}

// Release forgets a claimed delivery, so a retry of a delivery that could not
// be queued is not refused as a duplicate.
func (l *Ledger) Release(key string) error {
	c := &l.claims
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := l.loadClaims(); err != nil {
		return err
	}
	delete(c.seen, key)
	l.writeBehind(key)
	return nil
}

// writeBehind marks key for writing and makes sure a writer runs. c.mu is
// held.
func (l *Ledger) writeBehind(key string) {
	c := &l.claims
	if c.pending == nil {
		c.pending = map[string]bool{}
	}
	c.pending[key] = true
	if !c.flushing {
		c.flushing = true
		c.writes.Go(l.flushClaims)
	}
}

// flushClaims writes pending keys in one transaction at a time until none
// is left: a burst of claims costs a few disk syncs, not one each.
func (l *Ledger) flushClaims() {
	c := &l.claims
	for {
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.flushing = false
			c.mu.Unlock()
			return
		}
		state := make(map[string]time.Time, len(c.pending))
		for k := range c.pending {
			state[k] = c.seen[k] // zero: released, delete it
		}
		c.pending = nil
		sweepAt, window := c.sweepAt, c.window
		c.sweepAt = time.Time{}
		c.mu.Unlock()
		if err := l.persistClaims(state, sweepAt, window); err != nil {
			c.mu.Lock()
			c.lastErr = err
			c.mu.Unlock()
		}
	}
}

// loadClaims reads the bucket into memory once. c.mu is held.
func (l *Ledger) loadClaims() error {
	c := &l.claims
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

// persistClaims writes the keys' states: a time is put, a zero time deleted.
func (l *Ledger) persistClaims(state map[string]time.Time, sweepAt time.Time, window time.Duration) error {
	return l.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketDeliveries)
		if err != nil {
			return err
		}
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
