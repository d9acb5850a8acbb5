package ledger

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

func openTest(t *testing.T, keep int) (*Ledger, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "forge.db")
	l, err := Open(path, Options{Keep: keep, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, path
}

func record(t *testing.T, l *Ledger, project string, status forge.Status) forge.Deploy {
	t.Helper()
	d := forge.Deploy{Project: project, Reason: forge.ReasonPush, Status: forge.StatusQueued, Queued: time.Now()}
	if err := l.Create(&d); err != nil {
		t.Fatal(err)
	}
	d.Status = status
	d.Services = []forge.ServiceDeploy{{Service: "web", Image: "127.0.0.1:5000/app:live", Digest: "sha256:aa", Previous: "sha256:bb"}}
	if err := l.Update(d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHistoryNewestFirstAndIDsIncrease(t *testing.T) {
	l, _ := openTest(t, 0)
	a := record(t, l, "shop", forge.StatusSucceeded)
	_ = record(t, l, "blog", forge.StatusSucceeded)
	c := record(t, l, "shop", forge.StatusFailed)
	if !(a.ID < c.ID) {
		t.Fatalf("ids not increasing: %d then %d", a.ID, c.ID)
	}
	h, err := l.History("shop", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].ID != c.ID || h[1].ID != a.ID {
		t.Fatalf("history = %+v, want [%d %d]", h, c.ID, a.ID)
	}
	if h[1].Services[0].Previous != "sha256:bb" {
		t.Fatalf("service record lost: %+v", h[1].Services)
	}
	got, err := l.Get(c.ID)
	if err != nil || got.Status != forge.StatusFailed || got.Project != "shop" {
		t.Fatalf("Get(%d) = %+v, %v", c.ID, got, err)
	}
	if _, err := l.Get(9999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(unknown) error = %v, want ErrNotFound", err)
	}
	if h, _ := l.History("nothing", 0); len(h) != 0 {
		t.Fatalf("history of unknown project = %v", h)
	}
}

func TestPruneKeepsNewestFinalDeploys(t *testing.T) {
	l, _ := openTest(t, 3)
	pending := forge.Deploy{Project: "shop", Status: forge.StatusQueued, Queued: time.Now()}
	if err := l.Create(&pending); err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for range 6 {
		ids = append(ids, record(t, l, "shop", forge.StatusSucceeded).ID)
	}
	other := record(t, l, "blog", forge.StatusSucceeded)
	h, err := l.History("shop", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, d := range h {
		got = append(got, d.ID)
	}
	want := []uint64{ids[5], ids[4], ids[3], pending.ID}
	if len(got) != len(want) {
		t.Fatalf("after pruning, ids = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after pruning, ids = %v, want %v", got, want)
		}
	}
	if _, err := l.Get(ids[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pruned deploy still readable: %v", err)
	}
	if _, err := l.Get(other.ID); err != nil {
		t.Fatalf("pruning shop touched blog: %v", err)
	}
	un, err := l.Unfinished()
	if err != nil || len(un) != 1 || un[0].ID != pending.ID {
		t.Fatalf("Unfinished = %+v, %v", un, err)
	}
}

func TestUpdateUnknownDeployFails(t *testing.T) {
	l, _ := openTest(t, 0)
	err := l.Update(forge.Deploy{ID: 42, Project: "shop", Status: forge.StatusSucceeded})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Update(unknown) = %v, want ErrNotFound", err)
	}
}

func TestSecondOpenTimesOutWithErrLocked(t *testing.T) {
	_, path := openTest(t, 0)
	start := time.Now()
	_, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("second Open hung for %v", time.Since(start))
	}
}

func TestProjectsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "forge.db")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref := forge.ProjectRef{Name: "shop", WorkingDir: "/srv/shop", ConfigFiles: []string{"/srv/shop/compose.yaml"}}
	if err := l.SaveProject(ref, time.Now()); err != nil {
		t.Fatal(err)
	}
	d := forge.Deploy{Project: "shop", Status: forge.StatusSucceeded}
	if err := l.Create(&d); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ps, err := l.Projects()
	if err != nil || len(ps) != 1 || ps[0].WorkingDir != "/srv/shop" || ps[0].ConfigFiles[0] != "/srv/shop/compose.yaml" {
		t.Fatalf("Projects after reopen = %+v, %v", ps, err)
	}
	next := forge.Deploy{Project: "shop", Status: forge.StatusSucceeded}
	if err := l.Create(&next); err != nil {
		t.Fatal(err)
	}
	if next.ID <= d.ID {
		t.Fatalf("id reused after reopen: %d after %d", next.ID, d.ID)
	}
}

// TestEveryFinalRecordPrunes: a deploy recorded final from the start (one
// that failed before it could run) and a chain whose first record is final
// keep the history to --keep, as an update to a final status does.
func TestEveryFinalRecordPrunes(t *testing.T) {
	tests := []struct {
		name  string
		write func(t *testing.T, l *Ledger)
	}{
		{"created failed", func(t *testing.T, l *Ledger) {
			now := time.Now()
			d := forge.Deploy{Project: "shop", Reason: forge.ReasonManual, Status: forge.StatusFailed,
				Error: "compose project could not be loaded", Queued: now, Started: now, Finished: now}
			if err := l.Create(&d); err != nil {
				t.Fatal(err)
			}
		}},
		{"chained", func(t *testing.T, l *Ledger) {
			done := record(t, l, "shop", forge.StatusRunning)
			done.Status = forge.StatusInterrupted
			next := forge.Deploy{Project: "shop", Status: forge.StatusQueued, Queued: time.Now()}
			if err := l.Chain(&done, &next, nil, nil, nil); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := openTest(t, 3)
			for range 4 {
				record(t, l, "shop", forge.StatusSucceeded)
			}
			for range 3 {
				tt.write(t, l)
			}
			h, err := l.History("shop", 0)
			if err != nil {
				t.Fatal(err)
			}
			// Beyond the newest 3 only deploys still queued may remain.
			for i, d := range h {
				if i >= 3 && d.Status.Final() {
					t.Fatalf("history keeps final deploy %d at position %d, past --keep 3: %+v", d.ID, i+1, h)
				}
			}
		})
	}
}
