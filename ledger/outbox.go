package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/docker-forge/docker-forge"
)

// bucketOutbox holds the notifications not delivered yet: channel name + 0
// + big-endian sequence -> outboxRecord, so each channel's are in the order
// they were written.
var bucketOutbox = []byte("outbox")

// OutboxEntry is one notification to deliver to one channel.
type OutboxEntry struct {
	// Key names the entry in the outbox (the channel and a sequence); set
	// when written.
	Key string `json:"-"`
	// Idempotency names the notification whatever channel or attempt: a
	// receiver that takes one can drop a repeat.
	Idempotency string `json:"idempotency"`
	// Channel is the channel's masked name (shown, logged), Sealed its URL
	// encrypted (the URL carries credentials: it is never stored in clear).
	Channel string `json:"channel"`
	Sealed  []byte `json:"sealed"`
	Event   string `json:"event"`
	// Deploy is the deploy the notification is about (a copy: the deploy
	// may be pruned before a channel that is down comes back); nil for an
	// event of no deploy.
	Deploy *forge.Deploy `json:"deploy,omitempty"`
	// Text is what to say when there is no deploy (a push nothing took).
	Text     string    `json:"text,omitempty"`
	Created  time.Time `json:"created"`
	Attempts int       `json:"attempts,omitempty"`
	NextAt   time.Time `json:"next_at,omitzero"`
	// LastError is why the last attempt failed, in generic words.
	LastError string `json:"last_error,omitempty"`
}

type outboxRecord struct {
	V int `json:"v"`
	OutboxEntry
}

// putOutbox writes new entries, each keyed under its channel.
func putOutbox(tx *bolt.Tx, entries []OutboxEntry) error {
	if len(entries) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketOutbox)
	if err != nil {
		return err
	}
	for i := range entries {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		key := append([]byte(entries[i].Channel+"\x00"), itob(seq)...)
		v, err := json.Marshal(outboxRecord{V: schemaVersion, OutboxEntry: entries[i]})
		if err != nil {
			return err
		}
		if err := b.Put(key, v); err != nil {
			return err
		}
		entries[i].Key = string(key)
	}
	return nil
}

// CreateFinal records a deploy that is final from the start (it failed
// before it could run) with its notifications, made once its ID is known,
// in one transaction; it prunes as Create does.
func (l *Ledger) CreateFinal(d *forge.Deploy, notifications func(forge.Deploy) []OutboxEntry) error {
	if d.Project == "" {
		return fmt.Errorf("ledger: deploy without a project")
	}
	l.own(d)
	err := l.db.Update(func(tx *bolt.Tx) error {
		id, err := tx.Bucket(bucketDeploys).NextSequence()
		if err != nil {
			return err
		}
		d.ID = id
		if err := put(tx, *d); err != nil {
			return err
		}
		if notifications != nil {
			if err := putOutbox(tx, notifications(*d)); err != nil {
				return err
			}
		}
		return pruneFinal(tx, *d, l.keep)
	})
	if err != nil {
		return fmt.Errorf("record deploy for %s: %w", d.Project, err)
	}
	return nil
}

// Enqueue writes notifications of no deploy (a push nothing took).
func (l *Ledger) Enqueue(entries []OutboxEntry) error {
	err := l.db.Update(func(tx *bolt.Tx) error { return putOutbox(tx, entries) })
	if err != nil {
		return fmt.Errorf("queue notifications: %w", err)
	}
	return nil
}

// Outbox returns the entries due at now (NextAt passed), oldest first per
// channel, at most perChannel of each channel.
func (l *Ledger) Outbox(now time.Time, perChannel int) ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil {
			return nil
		}
		taken := map[string]int{}
		return b.ForEach(func(k, v []byte) error {
			var rec outboxRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return nil // an entry that does not decode is left for Backlog to show
			}
			e := rec.OutboxEntry
			if taken[e.Channel] >= perChannel || e.NextAt.After(now) {
				taken[e.Channel] = perChannel // keep the channel's order: none after a waiting one
				return nil
			}
			taken[e.Channel]++
			e.Key = string(k)
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read the outbox: %w", err)
	}
	return out, nil
}

// Entry reads one entry again; false when it is gone (delivered, trimmed).
func (l *Ledger) Entry(key string) (OutboxEntry, bool, error) {
	var (
		e  OutboxEntry
		ok bool
	)
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(key))
		if v == nil {
			return nil
		}
		var rec outboxRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		e, ok = rec.OutboxEntry, true
		e.Key = key
		return nil
	})
	if err != nil {
		return OutboxEntry{}, false, fmt.Errorf("read a notification: %w", err)
	}
	return e, ok, nil
}

// Delivered removes a delivered entry.
func (l *Ledger) Delivered(key string) error {
	err := l.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketOutbox); b != nil {
			return b.Delete([]byte(key))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark notification delivered: %w", err)
	}
	return nil
}

// Retry records a failed attempt: when to try again, and why it failed.
func (l *Ledger) Retry(e OutboxEntry) error {
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil || b.Get([]byte(e.Key)) == nil {
			return nil // delivered or trimmed meanwhile
		}
		v, err := json.Marshal(outboxRecord{V: schemaVersion, OutboxEntry: e})
		if err != nil {
			return err
		}
		return b.Put([]byte(e.Key), v)
	})
	if err != nil {
		return fmt.Errorf("record a notification attempt: %w", err)
	}
	return nil
}

// ChannelBacklog is what waits for one channel.
type ChannelBacklog struct {
	Channel   string    `json:"channel"`
	Waiting   int       `json:"waiting"`
	Oldest    time.Time `json:"oldest,omitzero"`
	Attempts  int       `json:"attempts,omitempty"`
	NextAt    time.Time `json:"next_at,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// Backlog counts the outbox by channel: how many wait, and the oldest's
// attempts and last failure.
func (l *Ledger) Backlog() (map[string]ChannelBacklog, error) {
	out := map[string]ChannelBacklog{}
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec outboxRecord
			_ = json.Unmarshal(v, &rec) // one that does not decode still counts
			ch, _, _ := bytes.Cut(k, []byte{0})
			c := out[string(ch)]
			c.Channel, c.Waiting = string(ch), c.Waiting+1
			if c.Waiting == 1 {
				c.Oldest, c.Attempts, c.NextAt, c.LastError = rec.Created, rec.Attempts, rec.NextAt, rec.LastError
			}
			out[string(ch)] = c
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("count the outbox: %w", err)
	}
	return out, nil
}

// TrimOutbox keeps each channel's newest limit entries (a channel that stays
// down must not fill the disk) and says how many it dropped.
func (l *Ledger) TrimOutbox(limit int) (int, error) {
	dropped := 0
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil {
			return nil
		}
		keys := map[string][][]byte{}
		err := b.ForEach(func(k, _ []byte) error {
			ch, _, _ := bytes.Cut(k, []byte{0})
			keys[string(ch)] = append(keys[string(ch)], bytes.Clone(k))
			return nil
		})
		if err != nil {
			return err
		}
		for _, ks := range keys {
			for _, k := range ks[:max(len(ks)-limit, 0)] {
				if err := b.Delete(k); err != nil {
					return err
				}
				dropped++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("trim the outbox: %w", err)
	}
	return dropped, nil
}

// bucketSettings holds what the daemon tells the CLI's in-process
// commands: key -> JSON.
var bucketSettings = []byte("settings")

// SealedChannel is one of the daemon's notification channels as the ledger
// keeps it: its masked name and its URL encrypted.
type SealedChannel struct {
	Name   string `json:"name"`
	Sealed []byte `json:"sealed"`
}

// SetChannels records the daemon's notification channels, so a deploy the
// CLI runs while the daemon is stopped tells them too (once it runs).
func (l *Ledger) SetChannels(cs []SealedChannel) error {
	v, err := json.Marshal(cs)
	if err != nil {
		return err
	}
	err = l.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSettings)
		if err != nil {
			return err
		}
		return b.Put([]byte("notify-channels"), v)
	})
	if err != nil {
		return fmt.Errorf("record the notification channels: %w", err)
	}
	return nil
}

// Channels returns what SetChannels recorded.
func (l *Ledger) Channels() ([]SealedChannel, error) {
	var cs []SealedChannel
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSettings)
		if b == nil {
			return nil
		}
		if v := b.Get([]byte("notify-channels")); v != nil {
			return json.Unmarshal(v, &cs)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the notification channels: %w", err)
	}
	return cs, nil
}
