package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/docker-forge/docker-forge"
)

var bucketTokens = []byte("tokens") // token name -> tokenRecord

// ErrTokenExists is returned when a token of that name exists already.
var ErrTokenExists = errors.New("a token of that name exists")

// ErrNoToken is returned for a token name the ledger does not hold.
var ErrNoToken = errors.New("no token of that name")

type tokenRecord struct {
	V       int        `json:"v"`
	Name    string     `json:"name"`
	Role    forge.Role `json:"role"`
	Hash    string     `json:"hash"`
	Created time.Time  `json:"created"`
}

// CreateToken stores a token (its hash, never the secret).
func (l *Ledger) CreateToken(t forge.Token) error {
	err := l.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTokens)
		if err != nil {
			return err
		}
		if b.Get([]byte(t.Name)) != nil {
			return ErrTokenExists
		}
		v, err := json.Marshal(tokenRecord{V: schemaVersion, Name: t.Name, Role: t.Role, Hash: t.Hash, Created: t.Created})
		if err != nil {
			return err
		}
		return b.Put([]byte(t.Name), v)
	})
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.Name, err)
	}
	return nil
}

// RevokeToken deletes a token.
func (l *Ledger) RevokeToken(name string) error {
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b == nil || b.Get([]byte(name)) == nil {
			return ErrNoToken
		}
		return b.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", name, err)
	}
	return nil
}

// Tokens lists the tokens, by name.
func (l *Ledger) Tokens() ([]forge.Token, error) {
	out := []forge.Token{}
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			t, err := decodeToken(v)
			if err == nil {
				out = append(out, t)
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// Token returns the token named name.
func (l *Ledger) Token(name string) (forge.Token, error) {
	var t forge.Token
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b == nil {
			return ErrNoToken
		}
		v := b.Get([]byte(name))
		if v == nil {
			return ErrNoToken
		}
		var err error
		t, err = decodeToken(v)
		return err
	})
	if err != nil {
		return forge.Token{}, fmt.Errorf("token %s: %w", name, err)
	}
	return t, nil
}

func decodeToken(v []byte) (forge.Token, error) {
	var rec tokenRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return forge.Token{}, fmt.Errorf("decode token: %w", err)
	}
	return forge.Token{Name: rec.Name, Role: rec.Role, Hash: rec.Hash, Created: rec.Created}, nil
}
