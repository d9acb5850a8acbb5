package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/docker-forge/docker-forge"
)

// The stats series live apart from the deploys: bucket "stats" holds one
// bucket per tier (raw samples, rollups), each one bucket per project, whose
// keys are the point's time (big-endian unix nanoseconds) followed by the
// service name ("" for the project's total), so a window is one cursor
// range. Points are packed as varints: a day of 1-minute rollups of a
// 50-service project reads in milliseconds.
var (
	bucketStats      = []byte("stats")
	bucketLatest     = []byte("stats-latest") // container id -> forge.TopEntry (JSON)
	bucketStatsMeta  = []byte("stats-meta")   // key -> JSON
	pointVersion     = byte(1)
	errShortPoint    = errors.New("ledger: truncated stats point")
	errPointVersion  = errors.New("ledger: unknown stats point version")
	maxPointEncoding = 1 + 13*binary.MaxVarintLen64
)

// StatsWrite is what one collector run stores, in one transaction.
type StatsWrite struct {
	// Series are appended to their tier ("raw", "1m", "1h", …).
	Series map[string][]forge.StatSeries
	// Latest replaces the latest reading of each container it names.
	Latest []forge.TopEntry
	// Prune drops, per tier, the points older than its time, and LatestBefore
	// the containers not read since.
	Prune        map[string]time.Time
	LatestBefore time.Time
}

// WriteStats stores w.
func (l *Ledger) WriteStats(w StatsWrite) error {
	err := l.db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bucketStats)
		if err != nil {
			return err
		}
		for tier, series := range w.Series {
			tb, err := root.CreateBucketIfNotExists([]byte(tier))
			if err != nil {
				return err
			}
			for _, s := range series {
				pb, err := tb.CreateBucketIfNotExists([]byte(s.Project))
				if err != nil {
					return err
				}
				for _, p := range s.Points {
					if err := pb.Put(pointKey(p.Time, s.Service), encodePoint(p)); err != nil {
						return err
					}
				}
			}
		}
		for tier, before := range w.Prune {
			if err := pruneTier(root.Bucket([]byte(tier)), before); err != nil {
				return err
			}
		}
		return writeLatest(tx, w.Latest, w.LatestBefore)
	})
	if err != nil {
		return fmt.Errorf("record stats: %w", err)
	}
	return nil
}

// pruneTier drops the points older than before from every project of a
// tier, and the projects left empty.
func pruneTier(tb *bolt.Bucket, before time.Time) error {
	if tb == nil {
		return nil
	}
	limit := timeKey(before)
	var empty [][]byte
	err := tb.ForEachBucket(func(name []byte) error {
		pb := tb.Bucket(name)
		c := pb.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], limit) < 0; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		if k, _ := c.First(); k == nil {
			empty = append(empty, bytes.Clone(name))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range empty {
		if err := tb.DeleteBucket(name); err != nil {
			return err
		}
	}
	return nil
}

func writeLatest(tx *bolt.Tx, latest []forge.TopEntry, before time.Time) error {
	b, err := tx.CreateBucketIfNotExists(bucketLatest)
	if err != nil {
		return err
	}
	for _, e := range latest {
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(e.ID), v); err != nil {
			return err
		}
	}
	if before.IsZero() {
		return nil
	}
	var stale [][]byte
	err = b.ForEach(func(k, v []byte) error {
		var e forge.TopEntry
		if json.Unmarshal(v, &e) != nil || e.Time.Before(before) {
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
	return nil
}

// StatsRange returns a project's points in tier from from (inclusive) to to
// (exclusive), by service ("" is the project's total). With services given,
// only those are returned.
func (l *Ledger) StatsRange(tier, project string, from, to time.Time, services ...string) (map[string][]forge.StatPoint, error) {
	out := map[string][]forge.StatPoint{}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	err := l.db.View(func(tx *bolt.Tx) error {
		pb := projectBucket(tx, tier, project)
		if pb == nil {
			return nil
		}
		c := pb.Cursor()
		end := timeKey(to)
		for k, v := c.Seek(timeKey(from)); k != nil && bytes.Compare(k[:8], end) < 0; k, v = c.Next() {
			svc := string(k[8:])
			if len(want) > 0 && !want[svc] {
				continue
			}
			p, err := decodePoint(v)
			if err != nil {
				return fmt.Errorf("%s point of %s/%s: %w", tier, project, svc, err)
			}
			p.Time = keyTime(k)
			out[svc] = append(out[svc], p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s stats of %s: %w", tier, project, err)
	}
	return out, nil
}

// StatsSpan returns the times of a project's oldest and newest points in
// tier; ok is false when it has none.
func (l *Ledger) StatsSpan(tier, project string) (first, last time.Time, ok bool, err error) {
	err = l.db.View(func(tx *bolt.Tx) error {
		pb := projectBucket(tx, tier, project)
		if pb == nil {
			return nil
		}
		c := pb.Cursor()
		if k, _ := c.First(); k != nil {
			first = keyTime(k)
			k, _ = c.Last()
			last, ok = keyTime(k), true
		}
		return nil
	})
	if err != nil {
		return first, last, false, fmt.Errorf("read %s stats of %s: %w", tier, project, err)
	}
	return first, last, ok, nil
}

// StatsProjects lists the projects that have points in tier.
func (l *Ledger) StatsProjects(tier string) ([]string, error) {
	var out []string
	err := l.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketStats)
		if root == nil {
			return nil
		}
		tb := root.Bucket([]byte(tier))
		if tb == nil {
			return nil
		}
		return tb.ForEachBucket(func(name []byte) error {
			out = append(out, string(name))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list projects with stats: %w", err)
	}
	return out, nil
}

// Latest returns the latest reading of every container read at or after
// since.
func (l *Ledger) Latest(since time.Time) ([]forge.TopEntry, error) {
	var out []forge.TopEntry
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLatest)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var e forge.TopEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			if !e.Time.Before(since) {
				out = append(out, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read latest container stats: %w", err)
	}
	return out, nil
}

// SaveStatsMeta stores v as JSON under key, for what a reader of the stats
// needs to know of the collector that wrote them (its interval, retention).
func (l *Ledger) SaveStatsMeta(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("save stats meta %s: %w", key, err)
	}
	err = l.db.Update(func(tx *bolt.Tx) error {
		mb, err := tx.CreateBucketIfNotExists(bucketStatsMeta)
		if err != nil {
			return err
		}
		return mb.Put([]byte(key), b)
	})
	if err != nil {
		return fmt.Errorf("save stats meta %s: %w", key, err)
	}
	return nil
}

// StatsMeta reads what SaveStatsMeta stored under key into v; ok is false
// when nothing was.
func (l *Ledger) StatsMeta(key string, v any) (ok bool, err error) {
	err = l.db.View(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bucketStatsMeta)
		if mb == nil {
			return nil
		}
		b := mb.Get([]byte(key))
		if b == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(b, v)
	})
	if err != nil {
		return false, fmt.Errorf("read stats meta %s: %w", key, err)
	}
	return ok, nil
}

func projectBucket(tx *bolt.Tx, tier, project string) *bolt.Bucket {
	root := tx.Bucket(bucketStats)
	if root == nil {
		return nil
	}
	tb := root.Bucket([]byte(tier))
	if tb == nil {
		return nil
	}
	return tb.Bucket([]byte(project))
}

func timeKey(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(max(t.UnixNano(), 0)))
}

func pointKey(t time.Time, service string) []byte {
	return append(timeKey(t), service...)
}

func keyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC()
}

// encodePoint packs a point without its time (the key holds it); CPU
// percentages are kept to a hundredth.
func encodePoint(p forge.StatPoint) []byte {
	b := make([]byte, 0, maxPointEncoding)
	b = append(b, pointVersion)
	for _, v := range []uint64{
		cents(p.CPU), cents(p.CPUMax), p.Memory, p.MemoryMax, p.MemoryLimit,
		p.NetRx, p.NetTx, p.BlockRead, p.BlockWrite, p.PIDs,
		uint64(p.Containers), uint64(p.Samples),
	} {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func cents(pct float64) uint64 {
	if pct <= 0 || math.IsNaN(pct) {
		return 0
	}
	return uint64(math.Round(pct * 100))
}

func decodePoint(b []byte) (forge.StatPoint, error) {
	var p forge.StatPoint
	if len(b) == 0 {
		return p, errShortPoint
	}
	if b[0] != pointVersion {
		return p, errPointVersion
	}
	b = b[1:]
	var vals [12]uint64
	for i := range vals {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return p, errShortPoint
		}
		vals[i], b = v, b[n:]
	}
	p.CPU, p.CPUMax = float64(vals[0])/100, float64(vals[1])/100
	p.Memory, p.MemoryMax, p.MemoryLimit = vals[2], vals[3], vals[4]
	p.NetRx, p.NetTx, p.BlockRead, p.BlockWrite, p.PIDs = vals[5], vals[6], vals[7], vals[8], vals[9]
	p.Containers, p.Samples = uint32(vals[10]), uint32(vals[11])
	return p, nil
}
