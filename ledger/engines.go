package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/docker-forge/docker-forge"
)

// DefaultEngine is the docker CLI's default context: the engine a ledger
// belongs to when nothing names one.
const DefaultEngine = "default"

// Projects are keyed by engine and name: "<engine>/<project>" in every
// bucket that holds a project (neither a docker context name nor a compose
// project name can hold a slash). Deploy ids stay global, so a deploy is
// named by its id alone whichever engine ran it.
var (
	bucketMeta = []byte("meta")
	keyLayout  = []byte("layout")
	// keyHome names the engine a single-engine ledger was moved to (or,
	// for a ledger made with engines, the one it was first opened for).
	keyHome = []byte("home")
	// layoutEngines is the layout with projects keyed by engine.
	layoutEngines = []byte("engines")
)

// Engine returns a view of the ledger scoped to another engine: its
// projects, deploys and stats are that engine's; deliveries, notifications
// and tokens are shared. The view shares the file: close the ledger Open
// returned, not a view.
func (l *Ledger) Engine(name string) *Ledger {
	v := *l
	v.scope = name
	return &v
}

// Scope is the engine the view reads and writes.
func (l *Ledger) Scope() string { return l.scope }

// Home is the engine the ledger's single-engine past belongs to: what
// forge kept outside the ledger before engines (git checkouts) is that
// engine's.
func (l *Ledger) Home() string { return l.home }

// key is where the view keeps one of its engine's projects.
func (l *Ledger) key(project string) []byte {
	return []byte(l.scope + "/" + project)
}

// mine reports whether a project key is of the view's engine.
func (l *Ledger) mine(key []byte) bool {
	return len(key) > len(l.scope) && key[len(l.scope)] == '/' && string(key[:len(l.scope)]) == l.scope
}

// own marks a deploy as the view's engine's, unless it names one.
func (l *Ledger) own(d *forge.Deploy) {
	if d.Engine == "" {
		d.Engine = l.scope
	}
}

func deployKey(d forge.Deploy) []byte {
	return []byte(d.Engine + "/" + d.Project)
}

// readHome is the engine migrate recorded.
func readHome(tx *bolt.Tx) string {
	if meta := tx.Bucket(bucketMeta); meta != nil {
		return string(meta.Get(keyHome))
	}
	return ""
}

// migrate moves a ledger written before projects were keyed by engine to
// the engine named home (the one that single-engine forge drove): every
// project's deploys, index entries, project record and stats series. It
// runs once, in Open's transaction, so a crash leaves the old layout whole.
func migrate(tx *bolt.Tx, home string) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	if bytes.Equal(meta.Get(keyLayout), layoutEngines) {
		return nil
	}
	if err := meta.Put(keyHome, []byte(home)); err != nil {
		return err
	}
	prefix := func(name []byte) []byte { return append([]byte(home+"/"), name...) }
	// Deploys: each project's bucket, its records marked with the engine.
	deploys := tx.Bucket(bucketDeploys)
	var names [][]byte
	if err := deploys.ForEachBucket(func(k []byte) error { names = append(names, bytes.Clone(k)); return nil }); err != nil {
		return err
	}
	for _, name := range names {
		err := moveBucket(deploys, name, prefix(name), func(v []byte) ([]byte, error) {
			var rec deployRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return nil, fmt.Errorf("decode deploy: %w", err)
			}
			if rec.Engine == "" {
				rec.Engine = home
			}
			return json.Marshal(rec)
		})
		if err != nil {
			return fmt.Errorf("migrate deploys of %s: %w", name, err)
		}
	}
	if err := rewriteValues(tx.Bucket(bucketIndex), prefix); err != nil {
		return fmt.Errorf("migrate deploy index: %w", err)
	}
	if err := rewriteKeys(tx.Bucket(bucketProjects), prefix); err != nil {
		return fmt.Errorf("migrate projects: %w", err)
	}
	if refs := tx.Bucket(bucketSnapRefs); refs != nil {
		if err := rewriteValues(refs, prefix); err != nil {
			return fmt.Errorf("migrate snapshot references: %w", err)
		}
	}
	if root := tx.Bucket(bucketStats); root != nil {
		var tiers [][]byte
		if err := root.ForEachBucket(func(k []byte) error { tiers = append(tiers, bytes.Clone(k)); return nil }); err != nil {
			return err
		}
		for _, tier := range tiers {
			tb := root.Bucket(tier)
			var projects [][]byte
			if err := tb.ForEachBucket(func(k []byte) error { projects = append(projects, bytes.Clone(k)); return nil }); err != nil {
				return err
			}
			for _, p := range projects {
				if err := moveBucket(tb, p, prefix(p), nil); err != nil {
					return fmt.Errorf("migrate %s stats of %s: %w", tier, p, err)
				}
			}
		}
	}
	// The latest container readings are a minute's worth: the next
	// sample writes them again, with their engine.
	if tx.Bucket(bucketLatest) != nil {
		if err := tx.DeleteBucket(bucketLatest); err != nil {
			return err
		}
	}
	return meta.Put(keyLayout, layoutEngines)
}

// moveBucket copies parent's bucket from to a new bucket to, nested buckets
// and all (each value passed through change, when set, at the top level),
// then deletes from: bbolt cannot rename a bucket.
func moveBucket(parent *bolt.Bucket, from, to []byte, change func([]byte) ([]byte, error)) error {
	src := parent.Bucket(from)
	dst, err := parent.CreateBucket(to)
	if err != nil {
		return err
	}
	if err := copyBucket(src, dst, change); err != nil {
		return err
	}
	return parent.DeleteBucket(from)
}

func copyBucket(src, dst *bolt.Bucket, change func([]byte) ([]byte, error)) error {
	dst.FillPercent = 0.95 // keys arrive in order
	return src.ForEach(func(k, v []byte) error {
		if v == nil {
			sub, err := dst.CreateBucket(k)
			if err != nil {
				return err
			}
			return copyBucket(src.Bucket(k), sub, nil)
		}
		if change != nil {
			var err error
			if v, err = change(v); err != nil {
				return err
			}
		}
		return dst.Put(k, v)
	})
}

func rewriteValues(b *bolt.Bucket, f func([]byte) []byte) error {
	type kv struct{ k, v []byte }
	var all []kv
	err := b.ForEach(func(k, v []byte) error {
		if v != nil {
			all = append(all, kv{bytes.Clone(k), f(v)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range all {
		if err := b.Put(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

func rewriteKeys(b *bolt.Bucket, f func([]byte) []byte) error {
	type kv struct{ k, v []byte }
	var all []kv
	err := b.ForEach(func(k, v []byte) error {
		if v != nil {
			all = append(all, kv{bytes.Clone(k), bytes.Clone(v)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range all {
		if err := b.Delete(e.k); err != nil {
			return err
		}
		if err := b.Put(f(e.k), e.v); err != nil {
			return err
		}
	}
	return nil
}
