// Package ledger is docker-forge's memory: an append-only bbolt store of every
// deploy, success and failure, with what ran before, so any deploy can be
// replayed. It also remembers the compose projects forge has deployed, so a
// project stays known while its containers are down.
//
// bbolt lets one process hold the file. The daemon holds it while it runs;
// the CLI opens it only when no daemon answers, with a short lock timeout.
package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/docker-forge/docker-forge"
)

// schemaVersion is written into every value, so a later release can migrate.
const schemaVersion = 1

var (
	bucketDeploys  = []byte("deploys")  // project -> (big-endian id -> deployRecord)
	bucketIndex    = []byte("index")    // big-endian id -> project name
	bucketProjects = []byte("projects") // project name -> projectRecord
)

// ErrNotFound is returned when no deploy has the asked-for id.
var ErrNotFound = errors.New("ledger: no deploy recorded")

// ErrLocked is returned by Open when another process holds the ledger.
var ErrLocked = errors.New("ledger: locked by another process")

// DefaultKeep is how many deploys per project are kept when Options.Keep is 0.
const DefaultKeep = 100

// Options tune Open.
type Options struct {
	// Timeout bounds the wait for the file lock; 0 means one second.
	Timeout time.Duration
	// Keep is the newest deploys kept per project; older ones are pruned.
	Keep int
	// Engine names the engine (docker context) the returned view is
	// scoped to, and the one a ledger written before projects were keyed
	// by engine is moved to; "" means DefaultEngine.
	Engine string
}

// Ledger is the bbolt-backed deploy store. It is safe for concurrent use.
type Ledger struct {
	db     *bolt.DB
	keep   int
	claims *claims
	// scope is the engine whose projects this view reads and writes (see
	// Engine): projects are keyed by engine and name. home is Home's.
	scope, home string
	// group commits the writes of webhooks arriving together in one
	// transaction (see group).
	group *group
}

type deployRecord struct {
	V int `json:"v"`
	// Rev orders the rewrites of a queued deploy that pushes keep joining.
	Rev uint64 `json:"rev,omitempty"`
	forge.Deploy
}

// Open opens (creating if needed) the ledger at path.
func Open(path string, opts Options) (*Ledger, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	if opts.Engine == "" {
		opts.Engine = DefaultEngine
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open ledger %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	var home string
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDeploys, bucketIndex, bucketProjects} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := migrate(tx, opts.Engine); err != nil {
			return err
		}
		home = readHome(tx)
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open ledger %s: create buckets: %w", path, err)
	}
	return &Ledger{db: db, keep: opts.Keep, group: &group{db: db}, claims: &claims{}, scope: opts.Engine, home: home}, nil
}

// Close releases the file.
func (l *Ledger) Close() error {
	return l.db.Close()
}

func itob(id uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, id)
	return b
}

// Create records a new deploy, assigning d.ID. A deploy recorded final
// (one that failed before it could start) prunes its project's history as
// any final record does.
func (l *Ledger) Create(d *forge.Deploy) error {
	l.own(d)
	return l.create(l.db.Update, d, 0)
}

// Chain rewrites done and records next (assigning next.ID, which done may
// name, as link does once it is known), with the snapshots done names and
// done's notifications (nil: none), in one transaction: a crash between
// an interrupted or failed deploy and the deploy that takes over from it
// cannot lose the second.
func (l *Ledger) Chain(done *forge.Deploy, next *forge.Deploy, link func(done, next *forge.Deploy), snapshots map[string][]byte, notifications func(done forge.Deploy) []OutboxEntry) error {
	l.own(done)
	l.own(next)
	err := l.db.Update(func(tx *bolt.Tx) error {
		if err := putSnapshots(tx, snapshots); err != nil {
			return err
		}
		id, err := tx.Bucket(bucketDeploys).NextSequence()
		if err != nil {
			return err
		}
		next.ID = id
		if link != nil {
			link(done, next)
		}
		if notifications != nil {
			if err := putOutbox(tx, notifications(*done)); err != nil {
				return err
			}
		}
		if err := put(tx, *next); err != nil {
			return err
		}
		if err := put(tx, *done); err != nil {
			return err
		}
		return pruneFinal(tx, *done, l.keep)
	})
	if err != nil {
		return fmt.Errorf("record deploy %d and its successor: %w", done.ID, err)
	}
	return nil
}

// CreateQueued records a new queued deploy like Create, in a transaction
// shared with concurrent callers (one disk sync for a burst of pushes).
func (l *Ledger) CreateQueued(d *forge.Deploy, rev uint64) error {
	l.own(d)
	return l.create(l.group.do, d, rev)
}

// create records d in a transaction run by commit (Update, or a group commit, which
// may run it more than once: the last run's id is the one committed).
func (l *Ledger) create(commit func(func(*bolt.Tx) error) error, d *forge.Deploy, rev uint64) error {
	if d.Project == "" {
		return errors.New("ledger: deploy without a project")
	}
	err := commit(func(tx *bolt.Tx) error {
		id, err := tx.Bucket(bucketDeploys).NextSequence()
		if err != nil {
			return err
		}
		d.ID = id
		if err := putRev(tx, *d, rev); err != nil {
			return err
		}
		return pruneFinal(tx, *d, l.keep)
	})
	if err != nil {
		return fmt.Errorf("record deploy for %s: %w", d.Project, err)
	}
	return nil
}

// UpdateQueued rewrites a queued deploy that a push joined, in a shared
// transaction, unless a later revision is stored already or the deploy has
// started (the running record holds the joined targets).
func (l *Ledger) UpdateQueued(d forge.Deploy, rev uint64) error {
	l.own(&d)
	err := l.group.do(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeploys).Bucket(deployKey(d))
		if b == nil {
			return fmt.Errorf("deploy %d: %w", d.ID, ErrNotFound)
		}
		v := b.Get(itob(d.ID))
		if v == nil {
			return fmt.Errorf("deploy %d: %w", d.ID, ErrNotFound)
		}
		var stored deployRecord
		if err := json.Unmarshal(v, &stored); err != nil {
			return fmt.Errorf("decode deploy: %w", err)
		}
		if stored.Status != forge.StatusQueued || stored.Rev >= rev {
			return nil
		}
		return putRev(tx, d, rev)
	})
	if err != nil {
		return fmt.Errorf("update deploy %d: %w", d.ID, err)
	}
	return nil
}

// Update rewrites a recorded deploy. Once it is final, the project's history
// is pruned to the newest Keep deploys.
func (l *Ledger) Update(d forge.Deploy) error {
	l.own(&d)
	err := l.db.Update(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketIndex).Get(itob(d.ID)); !bytes.Equal(v, deployKey(d)) {
			return fmt.Errorf("deploy %d: %w", d.ID, ErrNotFound)
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

func put(tx *bolt.Tx, d forge.Deploy) error { return putRev(tx, d, 0) }

func putRev(tx *bolt.Tx, d forge.Deploy, rev uint64) error {
	b, err := tx.Bucket(bucketDeploys).CreateBucketIfNotExists(deployKey(d))
	if err != nil {
		return err
	}
	v, err := json.Marshal(deployRecord{V: schemaVersion, Rev: rev, Deploy: d})
	if err != nil {
		return err
	}
	if err := b.Put(itob(d.ID), v); err != nil {
		return err
	}
	if err := refSnapshots(tx, d); err != nil {
		return err
	}
	return tx.Bucket(bucketIndex).Put(itob(d.ID), deployKey(d))
}

// pruneFinal prunes d's project once d is final: every final record keeps
// the history to its bound, however the deploy came to be recorded.
func pruneFinal(tx *bolt.Tx, d forge.Deploy, keep int) error {
	if !d.Status.Final() {
		return nil
	}
	return prune(tx, deployKey(d), keep)
}

// prune deletes the oldest final deploys of project beyond keep. Deploys that
// are still queued or running are never pruned.
func prune(tx *bolt.Tx, project []byte, keep int) error {
	b := tx.Bucket(bucketDeploys).Bucket(project)
	if b == nil {
		return nil
	}
	var stale [][]byte
	n := 0
	c := b.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		n++
		if n <= keep {
			continue
		}
		var rec deployRecord
		if err := json.Unmarshal(v, &rec); err == nil && !rec.Status.Final() {
			continue
		}
		if _, err := unrefSnapshots(tx, rec.Deploy); err != nil {
			return err
		}
		stale = append(stale, slices.Clone(k))
	}
	for _, k := range stale {
		if err := b.Delete(k); err != nil {
			return err
		}
		if err := tx.Bucket(bucketIndex).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Get returns the deploy with the given id.
func (l *Ledger) Get(id uint64) (forge.Deploy, error) {
	var d forge.Deploy
	err := l.db.View(func(tx *bolt.Tx) error {
		project := tx.Bucket(bucketIndex).Get(itob(id))
		if project == nil {
			return ErrNotFound
		}
		b := tx.Bucket(bucketDeploys).Bucket(project)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get(itob(id))
		if v == nil {
			return ErrNotFound
		}
		if err := decode(v, &d); err != nil {
			return err
		}
		if d.Engine != l.scope {
			return fmt.Errorf("%w on engine %s: it is %s's", ErrNotFound, l.scope, d.Engine)
		}
		return nil
	})
	if err != nil {
		return forge.Deploy{}, fmt.Errorf("get deploy %d: %w", id, err)
	}
	return d, nil
}

// History returns a project's deploys, newest first, at most limit of them
// (all when limit <= 0).
func (l *Ledger) History(project string, limit int) ([]forge.Deploy, error) {
	var out []forge.Deploy
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeploys).Bucket(l.key(project))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var d forge.Deploy
			if err := decode(v, &d); err != nil {
				return err
			}
			out = append(out, d)
			if limit > 0 && len(out) == limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", project, err)
	}
	return out, nil
}

// Unfinished returns every deploy, across projects, that is not final, oldest
// first.
func (l *Ledger) Unfinished() ([]forge.Deploy, error) {
	var out []forge.Deploy
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDeploys).ForEachBucket(func(name []byte) error {
			return tx.Bucket(bucketDeploys).Bucket(name).ForEach(func(_, v []byte) error {
				var d forge.Deploy
				if err := decode(v, &d); err != nil {
					return err
				}
				if !d.Status.Final() && d.Engine == l.scope {
					out = append(out, d)
				}
				return nil
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("unfinished deploys: %w", err)
	}
	slices.SortFunc(out, func(a, b forge.Deploy) int { return compareID(a.ID, b.ID) })
	return out, nil
}

func compareID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func decode(v []byte, d *forge.Deploy) error {
	var rec deployRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return fmt.Errorf("decode deploy: %w", err)
	}
	if rec.V > schemaVersion {
		return fmt.Errorf("decode deploy: schema %d is newer than this docker-forge (%d)", rec.V, schemaVersion)
	}
	*d = rec.Deploy
	return nil
}
