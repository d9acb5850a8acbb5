package ledger

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/docker-forge/docker-forge"
)

// writeSingleEngineLedger writes a ledger the way docker-forge did before
// projects were keyed by engine: buckets keyed by project name alone,
// records without an engine.
func writeSingleEngineLedger(t *testing.T, path string, at time.Time) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		deploys, _ := tx.CreateBucket(bucketDeploys)
		index, _ := tx.CreateBucket(bucketIndex)
		projects, _ := tx.CreateBucket(bucketProjects)
		for id, status := range map[uint64]forge.Status{1: forge.StatusSucceeded, 2: forge.StatusSucceeded, 3: forge.StatusQueued} {
			b, err := deploys.CreateBucketIfNotExists([]byte("shop"))
			if err != nil {
				return err
			}
			v, _ := json.Marshal(map[string]any{"v": 1, "id": id, "project": "shop", "reason": "push", "status": status,
				"services": []map[string]any{{"service": "web", "image": "127.0.0.1:5000/shop:live", "digest": "sha256:0" + string(rune('0'+id))}}})
			if err := b.Put(itob(id), v); err != nil {
				return err
			}
			if err := index.Put(itob(id), []byte("shop")); err != nil {
				return err
			}
		}
		if _, err := deploys.NextSequence(); err != nil {
			return err
		}
		_ = deploys.SetSequence(3)
		v, _ := json.Marshal(map[string]any{"v": 1, "ref": map[string]any{"name": "shop", "working_dir": "/srv/shop", "config_files": []string{"/srv/shop/compose.yaml"}},
			"updated": at, "attention": "deploy 2 needs a look"})
		if err := projects.Put([]byte("shop"), v); err != nil {
			return err
		}
		stats, _ := tx.CreateBucket(bucketStats)
		raw, _ := stats.CreateBucket([]byte("raw"))
		pb, _ := raw.CreateBucket([]byte("shop"))
		sb, _ := pb.CreateBucket(seriesBucket("web"))
		return sb.Put(timeKey(at), encodePoint(forge.StatPoint{Time: at, CPU: 12.5, Memory: 4 << 20}))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenMovesASingleEngineLedgerToItsEngine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "forge.db")
	at := time.Now().Truncate(time.Second).UTC()
	writeSingleEngineLedger(t, path, at)

	for run := range 2 { // the second Open, for another engine, finds the new layout and moves nothing
		l, err := Open(path, Options{Engine: []string{"prod", "edge"}[run], Timeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if l.Home() != "prod" {
			t.Fatalf("run %d: home = %q, want prod, where the single-engine past went", run, l.Home())
		}
		l = l.Engine("prod")
		h, err := l.History("shop", 0)
		if err != nil || len(h) != 3+run || h[run].ID != 3 || h[len(h)-1].Services[0].Digest != "sha256:01" {
			t.Fatalf("run %d: history after the move = %+v, %v", run, h, err)
		}
		for _, d := range h {
			if d.Engine != "prod" || d.Project != "shop" {
				t.Fatalf("run %d: deploy %d is %q on %q, want shop on prod", run, d.ID, d.Project, d.Engine)
			}
		}
		if d, err := l.Get(2); err != nil || d.Engine != "prod" {
			t.Fatalf("run %d: Get(2) = %+v, %v", run, d, err)
		}
		refs, err := l.Projects()
		if err != nil || len(refs) != 1 || refs[0].Name != "shop" || refs[0].WorkingDir != "/srv/shop" {
			t.Fatalf("run %d: projects = %+v, %v", run, refs, err)
		}
		if why, _ := l.Attention("shop"); why != "deploy 2 needs a look" {
			t.Fatalf("run %d: attention = %q", run, why)
		}
		pts, err := l.StatsRange("raw", "shop", at.Add(-time.Minute), at.Add(time.Minute))
		if err != nil || len(pts["web"]) != 1 || pts["web"][0].CPU != 12.5 {
			t.Fatalf("run %d: stats = %+v, %v", run, pts, err)
		}
		if u, err := l.Unfinished(); err != nil || len(u) != 1 || u[0].ID != 3 {
			t.Fatalf("run %d: unfinished = %+v, %v", run, u, err)
		}
		// A new deploy takes the next id: ids stay global.
		d := forge.Deploy{Project: "shop", Status: forge.StatusSucceeded}
		if err := l.Create(&d); err != nil || d.ID != uint64(4+run) {
			t.Fatalf("run %d: new deploy id %d, %v", run, d.ID, err)
		}
		_ = l.Close()
	}
}

func TestEnginesKeepTheirOwnProjects(t *testing.T) {
	l, _ := openTest(t, 0)
	edge := l.Engine("edge")
	home := record(t, l, "shop", forge.StatusSucceeded)
	away := record(t, edge, "shop", forge.StatusFailed)
	if home.Engine != DefaultEngine || away.Engine != "edge" {
		t.Fatalf("engines recorded %q and %q", home.Engine, away.Engine)
	}
	for _, c := range []struct {
		view *Ledger
		want forge.Deploy
	}{{l, home}, {edge, away}} {
		h, err := c.view.History("shop", 0)
		if err != nil || len(h) != 1 || h[0].ID != c.want.ID || h[0].Status != c.want.Status {
			t.Fatalf("%s: history = %+v, %v", c.view.Scope(), h, err)
		}
	}
	if _, err := l.Get(away.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the default engine's view found edge's deploy: %v", err)
	}
	if err := edge.SaveProject(forge.ProjectRef{Name: "blog", Stack: true}, time.Now()); err != nil {
		t.Fatal(err)
	}
	refs, _ := edge.Projects()
	homeRefs, _ := l.Projects()
	if len(refs) != 1 || refs[0].Name != "blog" || !refs[0].Stack || len(homeRefs) != 0 {
		t.Fatalf("edge projects = %+v, default's = %+v", refs, homeRefs)
	}
	if _, err := edge.Forget("shop"); err != nil {
		t.Fatal(err)
	}
	if h, _ := l.History("shop", 0); len(h) != 1 {
		t.Fatalf("forgetting edge's shop took the default engine's: %+v", h)
	}
}
