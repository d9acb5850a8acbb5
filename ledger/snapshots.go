package ledger

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"

	"github.com/docker-forge/docker-forge"
)

// The snapshots of services' configurations: content-addressed (one copy of
// a configuration however many deploys ran it), deflated; and the deploys
// that name each, so a snapshot goes when its last deploy is pruned.
var (
	bucketSnapshots = []byte("snapshots")     // sha256 hex -> deflated JSON
	bucketSnapRefs  = []byte("snapshot-refs") // sha256 hex + big-endian deploy id -> project
)

// SnapshotID is the name a snapshot is stored by: its SHA-256.
func SnapshotID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// Finish records a deploy's final state with the snapshots its services
// name (id -> JSON) and the notifications of it, in one transaction (a
// crash cannot keep the deploy and lose its notifications), and prunes the
// project's history as Update does.
func (l *Ledger) Finish(d forge.Deploy, snapshots map[string][]byte, outbox ...OutboxEntry) error {
	l.own(&d)
	err := l.db.Update(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketIndex).Get(itob(d.ID)); !bytes.Equal(v, deployKey(d)) {
			return fmt.Errorf("deploy %d: %w", d.ID, ErrNotFound)
		}
		if err := putSnapshots(tx, snapshots); err != nil {
			return err
		}
		if err := putOutbox(tx, outbox); err != nil {
			return err
		}
		if err := put(tx, d); err != nil {
			return err
		}
		return pruneFinal(tx, d, l.keep)
	})
	if err != nil {
		return fmt.Errorf("update deploy %d: %w", d.ID, err)
	}
	return nil
}

func putSnapshots(tx *bolt.Tx, snapshots map[string][]byte) error {
	if len(snapshots) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketSnapshots)
	if err != nil {
		return err
	}
	for id, raw := range snapshots {
		if b.Get([]byte(id)) != nil {
			continue // stored once
		}
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		if _, err := w.Write(raw); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		if err := b.Put([]byte(id), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// refSnapshots records that deploy d names its services' snapshots.
func refSnapshots(tx *bolt.Tx, d forge.Deploy) error {
	var refs *bolt.Bucket
	for _, s := range d.Services {
		if s.Snapshot == "" {
			continue
		}
		if refs == nil {
			var err error
			if refs, err = tx.CreateBucketIfNotExists(bucketSnapRefs); err != nil {
				return err
			}
		}
		if err := refs.Put(append([]byte(s.Snapshot), itob(d.ID)...), deployKey(d)); err != nil {
			return err
		}
	}
	return nil
}

// unrefSnapshots drops deploy d's names of its snapshots, and the snapshots
// no deploy names any more; it says how many of those went.
func unrefSnapshots(tx *bolt.Tx, d forge.Deploy) (int, error) {
	refs := tx.Bucket(bucketSnapRefs)
	if refs == nil {
		return 0, nil
	}
	gone := 0
	for _, s := range d.Services {
		if s.Snapshot == "" {
			continue
		}
		if err := refs.Delete(append([]byte(s.Snapshot), itob(d.ID)...)); err != nil {
			return gone, err
		}
		prefix := []byte(s.Snapshot)
		if k, _ := refs.Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
			continue // another deploy names it still
		}
		if b := tx.Bucket(bucketSnapshots); b != nil && b.Get(prefix) != nil {
			if err := b.Delete(prefix); err != nil {
				return gone, err
			}
			gone++
		}
	}
	return gone, nil
}

// Snapshot returns a stored snapshot's JSON.
func (l *Ledger) Snapshot(id string) ([]byte, error) {
	var out []byte
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		if b == nil {
			return ErrNoSnapshot
		}
		v := b.Get([]byte(id))
		if v == nil {
			return ErrNoSnapshot
		}
		var err error
		out, err = io.ReadAll(flate.NewReader(bytes.NewReader(v)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot %.12s: %w", id, err)
	}
	return out, nil
}

// ErrNoSnapshot is returned for a snapshot the ledger does not hold.
var ErrNoSnapshot = fmt.Errorf("no such snapshot is stored")

// SnapshotBytes is the room the stored snapshots take (their deflated
// sizes and keys).
func (l *Ledger) SnapshotBytes() (int, error) {
	n := 0
	err := l.db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketSnapshots, bucketSnapRefs} {
			if b := tx.Bucket(name); b != nil {
				if err := b.ForEach(func(k, v []byte) error { n += len(k) + len(v); return nil }); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return n, err
}
