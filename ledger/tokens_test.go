package ledger

import (
	"errors"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

func TestTokens(t *testing.T) {
	l, path := openTest(t, 0)
	tok := forge.Token{Name: "alice", Role: forge.RoleViewer, Hash: "ab12", Created: time.Now().UTC().Round(time.Second)}
	if err := l.CreateToken(tok); err != nil {
		t.Fatal(err)
	}
	if err := l.CreateToken(forge.Token{Name: "alice", Role: forge.RoleAdmin, Hash: "cd34"}); !errors.Is(err, ErrTokenExists) {
		t.Fatalf("a second token named alice: %v, want ErrTokenExists", err)
	}
	got, err := l.Token("alice")
	if err != nil || got != tok {
		t.Fatalf("Token(alice) = %+v, %v; want %+v", got, err, tok)
	}
	// Kept across a reopen.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(path, Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if all, err := l.Tokens(); err != nil || len(all) != 1 || all[0] != tok {
		t.Fatalf("Tokens = %+v, %v", all, err)
	}
	if err := l.RevokeToken("alice"); err != nil {
		t.Fatal(err)
	}
	if err := l.RevokeToken("alice"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("revoking twice: %v, want ErrNoToken", err)
	}
	if _, err := l.Token("alice"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("a revoked token is still found: %v", err)
	}
}

// TestSnapshotsStoredOnceAndPruned: a configuration many deploys ran is
// stored once; it goes with the last deploy that names it.
func TestSnapshotsStoredOnceAndPruned(t *testing.T) {
	l, _ := openTest(t, 2)
	shared, own := []byte(`{"image":"a"}`), []byte(`{"image":"b"}`)
	sid, oid := SnapshotID(shared), SnapshotID(own)
	finish := func(snaps map[string][]byte, services ...forge.ServiceDeploy) forge.Deploy {
		t.Helper()
		d := forge.Deploy{Project: "shop", Status: forge.StatusRunning}
		if err := l.Create(&d); err != nil {
			t.Fatal(err)
		}
		d.Status, d.Services = forge.StatusSucceeded, services
		if err := l.Finish(d, snaps); err != nil {
			t.Fatal(err)
		}
		return d
	}
	finish(map[string][]byte{sid: shared, oid: own}, forge.ServiceDeploy{Service: "web", Snapshot: sid}, forge.ServiceDeploy{Service: "api", Snapshot: oid})
	finish(map[string][]byte{sid: shared}, forge.ServiceDeploy{Service: "web", Snapshot: sid})
	if got, err := l.Snapshot(sid); err != nil || string(got) != string(shared) {
		t.Fatalf("Snapshot = %q, %v", got, err)
	}
	finish(map[string][]byte{sid: shared}, forge.ServiceDeploy{Service: "web", Snapshot: sid}) // prunes the first
	if _, err := l.Snapshot(oid); !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("a snapshot only a pruned deploy named is still stored: %v", err)
	}
	if _, err := l.Snapshot(sid); err != nil {
		t.Errorf("a snapshot newer deploys name went with a pruned one: %v", err)
	}
}
