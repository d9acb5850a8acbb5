package ledger

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/docker-forge/docker-forge"
)

// serviceJSON is a service's snapshot the size compose-go writes.
func serviceJSON(name string, change int) []byte {
	return []byte(fmt.Sprintf(`{"command":["/bin/httpd","-f","-p","8080"],"environment":{"CHANGE":"%d","LOG_LEVEL":"info","REGION":"eu-west-1",
"DB_PASSWORD":"••••0123456789abcdef0123456789abcdef","FEATURE_FLAGS":"a,b,c,d,e","WORKERS":"4"},"healthcheck":{"interval":"10s","retries":3,
"test":["CMD","/bin/true"],"timeout":"3s"},"image":"registry.example.com:5000/shop/%s@sha256:9db548b5c64581c05793afc94366b6deb4994e448e806d2b48e491bd1eabe1a3",
"init":true,"labels":{"forge.enable":"true","forge.settle":"3s","team":"payments"},"networks":{"default":null},"ports":[{"mode":"ingress","target":8080,
"published":"18080","protocol":"tcp"}],"restart":"unless-stopped","volumes":[{"type":"volume","source":"shop_data","target":"/data"}]}`, change, name))
}

// TestSnapshotStorage: 1,000 deploys of a 10-service project, one service
// changing each time, keep the snapshot store under 5 MB.
func TestSnapshotStorage(t *testing.T) {
	l, _ := openTest(t, 1000)
	for i := range 1000 {
		d := forge.Deploy{Project: "shop", Status: forge.StatusRunning}
		if err := l.Create(&d); err != nil {
			t.Fatal(err)
		}
		snaps := map[string][]byte{}
		for s := range 10 {
			change := 0
			if s == i%10 {
				change = i // the one that changed
			}
			raw := serviceJSON(fmt.Sprintf("svc%d", s), change)
			id := SnapshotID(raw)
			snaps[id] = raw
			d.Services = append(d.Services, forge.ServiceDeploy{Service: fmt.Sprintf("svc%d", s), Snapshot: id})
		}
		d.Status = forge.StatusSucceeded
		if err := l.Finish(d, snaps); err != nil {
			t.Fatal(err)
		}
	}
	n, err := l.SnapshotBytes()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1000 deploys × 10 services: %d bytes of snapshots and their references", n)
	if n > 5<<20 {
		t.Errorf("snapshots take %d bytes, want under 5 MB", n)
	}
}

// TestForgetLeavesNoKey forgets a project with deploys, snapshots, stats
// and deliveries and walks every bucket: nothing of it is left, and the
// other project is untouched.
func TestForgetLeavesNoKey(t *testing.T) {
	l, path := openTest(t, 0)
	now := time.Now().UTC()
	for _, project := range []string{"shop", "blog"} {
		if err := l.SaveProject(forge.ProjectRef{Name: project}, now); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			raw := []byte(fmt.Sprintf(`{"image":"%s-%d"}`, project, i))
			id := SnapshotID(raw)
			d := forge.Deploy{Project: project, Status: forge.StatusRunning, Trigger: forge.Trigger{Provider: "github", Delivery: fmt.Sprintf("%s-delivery-%d", project, i)}}
			if err := l.Create(&d); err != nil {
				t.Fatal(err)
			}
			d.Status, d.Services = forge.StatusSucceeded, []forge.ServiceDeploy{{Service: "web", Snapshot: id}}
			if err := l.Finish(d, map[string][]byte{id: raw}); err != nil {
				t.Fatal(err)
			}
			if ok, err := l.Claim([]string{"github:" + d.Trigger.Delivery}, now, time.Hour); err != nil || !ok {
				t.Fatal(ok, err)
			}
		}
		err := l.WriteStats(StatsWrite{
			Series: map[string][]forge.StatSeries{"raw": {{Project: project, Service: "web", Points: []forge.StatPoint{{Time: now, CPU: 1}}}, {Project: project, Points: []forge.StatPoint{{Time: now, CPU: 1}}}}},
			Latest: []forge.TopEntry{{Name: project + "/web", Container: project + "-web-1", ID: project + "-container", Time: now}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.Forget("shop")
	if err != nil {
		t.Fatal(err)
	}
	if got.Deploys != 3 || got.Snapshots != 3 || got.Series != 2 || got.Containers != 1 || got.Deliveries != 3 {
		t.Errorf("Forget = %+v, want 3 deploys, 3 snapshots, 2 series, 1 container, 3 deliveries", got)
	}
	if ok, _ := l.Claim([]string{"github:shop-delivery-0"}, now, time.Hour); !ok {
		t.Error("a forgotten project's delivery is still refused as a replay")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var left []string
	blog := 0
	err = db.View(func(tx *bolt.Tx) error {
		var walk func(at string, b *bolt.Bucket) error
		walk = func(at string, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				where := at + "/" + string(k)
				if v == nil {
					return walk(where, b.Bucket(k))
				}
				if bytes.Contains(k, []byte("shop")) && !strings.HasSuffix(where, "shop-delivery-0") || bytes.Contains(v, []byte(`"shop`)) ||
					bytes.Contains(v, []byte("shop-")) || strings.Contains(where, "/shop/") || strings.HasSuffix(where, "/shop") {
					left = append(left, where)
				}
				if bytes.Contains(k, []byte("blog")) || bytes.Contains(v, []byte("blog")) || strings.Contains(where, "blog") {
					blog++
				}
				return nil
			})
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("keys of the forgotten project remain: %v", left)
	}
	if blog < 10 {
		t.Errorf("only %d keys of blog remain: forget touched another project", blog)
	}
}
