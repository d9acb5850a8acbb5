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
// memory, then waits until its key is on disk, so a delivery answered 202
// is refused after a crash too. The claims that arrive while one commit is
// being synced share the next: a burst costs a few disk syncs, not one
// each, and a lone claim waits for no timer.
type claims struct {
	mu      sync.Mutex
	loaded  bool
	seen    map[string]time.Time
	swept   time.Time // when the last sweep was asked for
	window  time.Duration
	pending map[string]bool // keys whose state is not on disk yet
	round   *claimRound     // the commit that will write pending
	sweepAt time.Time       // when set, the next write sweeps keys expired at that time
	writes  sync.WaitGroup
}

// claimRound is one commit of pending keys; done is closed once it is
// synced, or failed with err.
type claimRound struct {
	done chan struct{}
	err  error
}

// Claim records the keys naming one webhook delivery, all or none, and
// reports whether it is fresh: false when one of them was claimed less than
// window ago. A fresh claim is on disk when Claim returns; one that could
// not be written is forgotten and its error returned.
func (l *Ledger) Claim(keys []string, now time.Time, window time.Duration) (bool, error) {
	c := &l.claims
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
	var r *claimRound
	for _, key := range keys {
		c.seen[key] = now
		r = l.writeSoon(key)
	}
	c.window = window
	if now.Sub(c.swept) >= min(sweepEvery, window) {
		c.swept, c.sweepAt = now, now
		for k, at := range c.seen {
			if now.Sub(at) >= window {
				delete(c.seen, k)
			}
		}
	}
	c.mu.Unlock()
	if r == nil {
		return true, nil
	}
	<-r.done
	if r.err != nil {
		c.mu.Lock()
		for _, key := range keys {
			if c.seen[key].Equal(now) {
				delete(c.seen, key) // not on disk: a retry is not a duplicate
			}
		}
		c.mu.Unlock()
		return false, fmt.Errorf("claim delivery: %w", r.err)
	}
	return true, nil
}

// Release forgets the keys of a claimed delivery, so a retry of a delivery
// that could not be queued is not refused as a duplicate.
func (l *Ledger) Release(keys []string) error {
	c := &l.claims
	c.mu.Lock()
	if err := l.loadClaims(); err != nil {
		c.mu.Unlock()
		return err
	}
	var r *claimRound
	for _, key := range keys {
		delete(c.seen, key)
		r = l.writeSoon(key)
	}
	c.mu.Unlock()
	if r == nil {
		return nil
	}
	<-r.done
	if r.err != nil {
		return fmt.Errorf("release delivery: %w", r.err)
	}
	return nil
}

// writeSoon marks key for writing, makes sure a writer runs, and returns
// the commit that will write it. c.mu is held.
func (l *Ledger) writeSoon(key string) *claimRound {
	c := &l.claims
	if c.pending == nil {
		c.pending = map[string]bool{}
	}
	c.pending[key] = true
	if c.round == nil {
		c.round = &claimRound{done: make(chan struct{})}
		c.writes.Go(l.flushClaims)
	}
	return c.round
}

// flushClaims writes pending keys in one transaction at a time until none
// is left; each commit ends the wait of the claims it wrote.
func (l *Ledger) flushClaims() {
	c := &l.claims
	for {
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.round = nil
			c.mu.Unlock()
			return
		}
		state := make(map[string]time.Time, len(c.pending))
		for k := range c.pending {
			state[k] = c.seen[k] // zero: released, delete it
		}
		r := c.round
		c.pending, c.round = nil, &claimRound{done: make(chan struct{})}
		sweepAt, window := c.sweepAt, c.window
		c.sweepAt = time.Time{}
		c.mu.Unlock()
		r.err = l.persistClaims(state, sweepAt, window)
		close(r.done)
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
