package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/docker-forge/docker-forge"
)

// Forgotten says what Forget removed.
type Forgotten struct {
	Deploys    int `json:"deploys"`
	Snapshots  int `json:"snapshots"`
	Series     int `json:"stats_series"`
	Containers int `json:"stats_containers"`
	Deliveries int `json:"deliveries"`
}

// Forget deletes everything the ledger keeps of a project, in one
// transaction: its deploys and their index, the snapshots only they named,
// its stats series in every tier and its containers' latest samples, the
// webhook deliveries its deploys came from, and the project itself.
func (l *Ledger) Forget(project string) (Forgotten, error) {
	key := l.key(project)
	var out Forgotten
	var deliveries []string
	err := l.db.Update(func(tx *bolt.Tx) error {
		out, deliveries = Forgotten{}, nil
		if b := tx.Bucket(bucketDeploys).Bucket(key); b != nil {
			err := b.ForEach(func(k, v []byte) error {
				var d forge.Deploy
				if err := decode(v, &d); err != nil {
					return err
				}
				gone, err := unrefSnapshots(tx, d)
				if err != nil {
					return err
				}
				out.Snapshots += gone
				if d.Trigger.Delivery != "" && d.Trigger.Provider != "" {
					deliveries = append(deliveries, d.Trigger.Provider+":"+d.Trigger.Delivery)
				}
				out.Deploys++
				return tx.Bucket(bucketIndex).Delete(k)
			})
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketDeploys).DeleteBucket(key); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketProjects).Delete(key); err != nil {
			return err
		}
		if root := tx.Bucket(bucketStats); root != nil {
			err := root.ForEachBucket(func(tier []byte) error {
				tb := root.Bucket(tier)
				pb := tb.Bucket(key)
				if pb == nil {
					return nil
				}
				_ = pb.ForEachBucket(func([]byte) error { out.Series++; return nil })
				return tb.DeleteBucket(key)
			})
			if err != nil {
				return err
			}
		}
		if b := tx.Bucket(bucketLatest); b != nil {
			var stale [][]byte
			err := b.ForEach(func(k, v []byte) error {
				var e forge.TopEntry
				if json.Unmarshal(v, &e) == nil && e.Engine == l.scope && strings.HasPrefix(e.Name, project+"/") {
					stale = append(stale, bytes.Clone(k))
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
			out.Containers = len(stale)
		}
		if b := tx.Bucket(bucketDeliveries); b != nil {
			for _, k := range deliveries {
				if b.Get([]byte(k)) != nil {
					out.Deliveries++
				}
				if err := b.Delete([]byte(k)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return Forgotten{}, fmt.Errorf("forget %s: %w", project, err)
	}
	// The replay guard decides in memory: forget there too.
	l.claims.mu.Lock()
	for _, k := range deliveries {
		delete(l.claims.seen, k)
	}
	l.claims.mu.Unlock()
	return out, nil
}
