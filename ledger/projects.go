package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/docker-forge/docker-forge"
)

// projectRecord is a project forge knows, stored by name.
type projectRecord struct {
	V       int              `json:"v"`
	Ref     forge.ProjectRef `json:"ref"`
	Updated time.Time        `json:"updated"`
	// Attention says why the project needs a person (a rollback that
	// failed); empty when all is well.
	Attention string `json:"attention,omitempty"`
}

// SaveProject remembers where a project's compose model lives. Saving the
// same reference again writes nothing, so a deploy pays no extra sync.
func (l *Ledger) SaveProject(ref forge.ProjectRef, now time.Time) error {
	return l.updateProject(ref.Name, func(rec *projectRecord) {
		if rec.Ref.Stack != ref.Stack || !slices.Equal(rec.Ref.ConfigFiles, ref.ConfigFiles) || rec.Ref.WorkingDir != ref.WorkingDir || rec.Ref.Name != ref.Name ||
			!slices.Equal(rec.Ref.EnvFiles, ref.EnvFiles) || !slices.Equal(rec.Ref.Profiles, ref.Profiles) {
			rec.Ref, rec.Updated = ref, now
		}
	})
}

// SetAttention records why a project needs a person, or clears it with "".
func (l *Ledger) SetAttention(project, why string) error {
	return l.updateProject(project, func(rec *projectRecord) {
		if rec.Ref.Name == "" {
			rec.Ref.Name = project
		}
		rec.Attention = why
	})
}

// Attention returns why a project needs a person, "" when it does not.
func (l *Ledger) Attention(project string) (string, error) {
	var rec projectRecord
	err := l.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketProjects).Get(l.key(project)); v != nil {
			return json.Unmarshal(v, &rec)
		}
		return nil
	})
	return rec.Attention, err
}

func (l *Ledger) updateProject(name string, change func(*projectRecord)) error {
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketProjects)
		var rec projectRecord
		old := b.Get(l.key(name))
		if old != nil {
			if err := json.Unmarshal(old, &rec); err != nil {
				return fmt.Errorf("decode project: %w", err)
			}
		}
		change(&rec)
		rec.V = schemaVersion
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if bytes.Equal(v, old) {
			return nil // unchanged: no write
		}
		return b.Put(l.key(name), v)
	})
	if err != nil {
		return fmt.Errorf("save project %s: %w", name, err)
	}
	return nil
}

// Projects returns every project forge has deployed on the view's engine,
// by name.
func (l *Ledger) Projects() ([]forge.ProjectRef, error) {
	var out []forge.ProjectRef
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketProjects).ForEach(func(k, v []byte) error {
			if !l.mine(k) {
				return nil
			}
			var rec projectRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode project: %w", err)
			}
			out = append(out, rec.Ref)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return out, nil
}
