package api

import (
	"slices"
	"testing"

	"github.com/docker-forge/docker-forge"
)

// TestDrift: a container whose config hash or image is not what the newest
// successful deploy of its service left has drifted; nothing drifts while a
// deploy runs.
func TestDrift(t *testing.T) {
	hist := []forge.Deploy{
		{ID: 3, Status: forge.StatusFailed, Services: []forge.ServiceDeploy{{Service: "web", Digest: "sha256:x", ConfigHash: "hx"}}},
		{ID: 2, Status: forge.StatusSucceeded, Services: []forge.ServiceDeploy{{Service: "web", Digest: "sha256:b", ConfigHash: "h2"}}},
		{ID: 1, Status: forge.StatusSucceeded, Services: []forge.ServiceDeploy{
			{Service: "web", Digest: "sha256:a", ConfigHash: "h1"}, {Service: "db", Digest: "sha256:d", ConfigHash: "hd"},
			{Service: "app", Digest: "sha256:id1", Local: true, ConfigHash: "ha"}, {Service: "old", Digest: "sha256:o"}}},
	}
	running := map[string]forge.Running{
		"web": {Digest: "sha256:b", ConfigHash: "h2"},              // as deploy 2 left it
		"db":  {Digest: "sha256:d", ConfigHash: "changed-by-hand"}, // recreated by hand
		"app": {ImageID: "sha256:id2", ConfigHash: "ha"},           // another local image
		"old": {Digest: "sha256:zz", ConfigHash: "whatever"},       // recorded before config hashes
	}
	if got := drift(hist, running); !slices.Equal(got, []string{"app", "db"}) {
		t.Errorf("drift = %v, want [app db]", got)
	}
	busy := append([]forge.Deploy{{ID: 4, Status: forge.StatusRunning}}, hist...)
	if got := drift(busy, running); got != nil {
		t.Errorf("drift while a deploy runs = %v", got)
	}
}
