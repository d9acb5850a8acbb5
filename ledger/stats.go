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
// bucket per tier (raw samples, rollups), each one bucket per project, each
// one bucket per series (seriesBucket: a service, or the project's total),
// whose keys are the points' times (big-endian unix nanoseconds), so a
// window is one cursor range per series. Points are packed in fixed-width
// fields, so a long window decodes with plain loads.
var (
	bucketStats     = []byte("stats")
	bucketLatest    = []byte("stats-latest") // container id -> forge.TopEntry (JSON)
	bucketStatsMeta = []byte("stats-meta")   // key -> JSON
	pointVersion    = byte(1)
	errShortPoint   = errors.New("ledger: truncated stats point")
	errPointVersion = errors.New("ledger: unknown stats point version")
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
				pb, err := tb.CreateBucketIfNotExists(l.key(s.Project))
				if err != nil {
					return err
				}
				sb, err := pb.CreateBucketIfNotExists(seriesBucket(s.Service))
				if err != nil {
					return err
				}
				// Points are appended in time order: full pages, not the
				// half-full ones a split leaves by default.
				sb.FillPercent = 0.95
				for _, p := range s.Points {
					if err := sb.Put(timeKey(p.Time), encodePoint(p)); err != nil {
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
		for i := range w.Latest {
			if w.Latest[i].Engine == "" {
				w.Latest[i].Engine = l.scope
			}
		}
		return writeLatest(tx, w.Latest, w.LatestBefore)
	})
	if err != nil {
		return fmt.Errorf("record stats: %w", err)
	}
	return nil
}

// pruneTier drops the points older than before from every series of a
// tier, and the series and projects left empty.
func pruneTier(tb *bolt.Bucket, before time.Time) error {
	if tb == nil {
		return nil
	}
	limit := timeKey(before)
	var emptyProjects [][]byte
	err := tb.ForEachBucket(func(project []byte) error {
		pb := tb.Bucket(project)
		var emptySeries [][]byte
		err := pb.ForEachBucket(func(name []byte) error {
			c := pb.Bucket(name).Cursor()
			for k, _ := c.First(); k != nil && bytes.Compare(k, limit) < 0; k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
			if k, _ := c.First(); k == nil {
				emptySeries = append(emptySeries, bytes.Clone(name))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := deleteEach(emptySeries, pb.DeleteBucket); err != nil {
			return err
		}
		if k, _ := pb.Cursor().First(); k == nil {
			emptyProjects = append(emptyProjects, bytes.Clone(project))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return deleteEach(emptyProjects, tb.DeleteBucket)
}

// deleteEach deletes keys collected while iterating, which bbolt does not
// allow to delete in place.
func deleteEach(keys [][]byte, del func([]byte) error) error {
	for _, k := range keys {
		if err := del(k); err != nil {
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
	return deleteEach(stale, b.Delete)
}

// StatsRange returns a project's points in tier from from (inclusive) to to
// (exclusive), by service ("" is the project's total). With services given,
// only those are returned.
func (l *Ledger) StatsRange(tier, project string, from, to time.Time, services ...string) (map[string][]forge.StatPoint, error) {
	out := map[string][]forge.StatPoint{}
	err := l.ScanStats(tier, project, from, to, services, func(svc string, p forge.StatPoint) {
		out[svc] = append(out[svc], p)
	})
	return out, err
}

// ScanStats calls fn with each of a project's points in tier from from
// (inclusive) to to (exclusive): series by series in name order (the
// project's total, "", first), each in time order; with services given,
// only theirs. It holds no point after fn returns, so a long window costs
// no memory of its own.
func (l *Ledger) ScanStats(tier, project string, from, to time.Time, services []string, fn func(service string, p forge.StatPoint)) error {
	err := l.db.View(func(tx *bolt.Tx) error {
		pb := projectBucket(tx, tier, l.key(project))
		if pb == nil {
			return nil
		}
		start, end := timeKey(from), timeKey(to)
		scan := func(svc string, sb *bolt.Bucket) error {
			c := sb.Cursor()
			for k, v := c.Seek(start); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
				p, err := decodePoint(v)
				if err != nil {
					return fmt.Errorf("%s point of %s/%s: %w", tier, project, svc, err)
				}
				p.Time = keyTime(k)
				fn(svc, p)
			}
			return nil
		}
		if len(services) > 0 {
			for _, svc := range services {
				if sb := pb.Bucket(seriesBucket(svc)); sb != nil {
					if err := scan(svc, sb); err != nil {
						return err
					}
				}
			}
			return nil
		}
		return pb.ForEachBucket(func(name []byte) error {
			return scan(seriesName(name), pb.Bucket(name))
		})
	})
	if err != nil {
		return fmt.Errorf("read %s stats of %s: %w", tier, project, err)
	}
	return nil
}

// StatsSpan returns the times of a project's oldest and newest points in
// tier; ok is false when it has none.
func (l *Ledger) StatsSpan(tier, project string) (first, last time.Time, ok bool, err error) {
	err = l.db.View(func(tx *bolt.Tx) error {
		pb := projectBucket(tx, tier, l.key(project))
		if pb == nil {
			return nil
		}
		return pb.ForEachBucket(func(name []byte) error {
			c := pb.Bucket(name).Cursor()
			k, _ := c.First()
			if k == nil {
				return nil
			}
			f := keyTime(k)
			k, _ = c.Last()
			l := keyTime(k)
			if !ok || f.Before(first) {
				first = f
			}
			if !ok || l.After(last) {
				last = l
			}
			ok = true
			return nil
		})
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
			if l.mine(name) {
				out = append(out, string(name[len(l.scope)+1:]))
			}
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
			if !e.Time.Before(since) && e.Engine == l.scope {
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

func projectBucket(tx *bolt.Tx, tier string, project []byte) *bolt.Bucket {
	root := tx.Bucket(bucketStats)
	if root == nil {
		return nil
	}
	tb := root.Bucket([]byte(tier))
	if tb == nil {
		return nil
	}
	return tb.Bucket(project)
}

func timeKey(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(max(t.UnixNano(), 0)))
}

// seriesBucket names a series' bucket: "." and the service, "." alone for
// the project's total (bbolt names cannot be empty).
func seriesBucket(service string) []byte { return []byte("." + service) }

func seriesName(bucket []byte) string { return string(bucket[1:]) }

func keyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC()
}

// pointSize is an encoded point: a version byte, then fixed-width
// little-endian fields, so a long window decodes with plain loads.
const pointSize = 1 + 4 + 4 + 8*7 + 4 + 4 + 4

// encodePoint packs a point without its time (the key holds it); CPU
// percentages are kept to a hundredth.
func encodePoint(p forge.StatPoint) []byte {
	b := make([]byte, 1, pointSize)
	b[0] = pointVersion
	le := binary.LittleEndian
	b = le.AppendUint32(b, cents(p.CPU))
	b = le.AppendUint32(b, cents(p.CPUMax))
	for _, v := range []uint64{p.Memory, p.MemoryMax, p.MemoryLimit, p.NetRx, p.NetTx, p.BlockRead, p.BlockWrite} {
		b = le.AppendUint64(b, v)
	}
	b = le.AppendUint32(b, uint32(min(p.PIDs, math.MaxUint32)))
	b = le.AppendUint32(b, p.Containers)
	return le.AppendUint32(b, p.Samples)
}

func cents(pct float64) uint32 {
	if pct <= 0 || math.IsNaN(pct) {
		return 0
	}
	return uint32(min(math.Round(pct*100), math.MaxUint32))
}

func decodePoint(b []byte) (forge.StatPoint, error) {
	var p forge.StatPoint
	if len(b) == 0 {
		return p, errShortPoint
	}
	if b[0] != pointVersion {
		return p, errPointVersion
	}
	if len(b) < pointSize {
		return p, errShortPoint
	}
	le := binary.LittleEndian
	p.CPU, p.CPUMax = float64(le.Uint32(b[1:]))/100, float64(le.Uint32(b[5:]))/100
	p.Memory, p.MemoryMax, p.MemoryLimit = le.Uint64(b[9:]), le.Uint64(b[17:]), le.Uint64(b[25:])
	p.NetRx, p.NetTx, p.BlockRead, p.BlockWrite = le.Uint64(b[33:]), le.Uint64(b[41:]), le.Uint64(b[49:]), le.Uint64(b[57:])
	p.PIDs, p.Containers, p.Samples = uint64(le.Uint32(b[65:])), le.Uint32(b[69:]), le.Uint32(b[73:])
	return p, nil
}
