package cliplugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStackArgumentErrors: a stack deploy that cannot work fails with a
// clear message before it opens the ledger or asks a daemon anything.
func TestStackArgumentErrors(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("version: \"3.8\"\nservices:\n  web:\n    image: registry.example/app:1\n    deploy:\n      replcas: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no stack name", args: []string{"deploy", "--swarm", "-f", broken}, wantErr: "a stack needs a name: -p NAME"},
		{name: "build", args: []string{"deploy", "--swarm", "-f", broken, "-p", "shop", "--build"}, wantErr: "--build is for compose projects"},
		{name: "env file", args: []string{"deploy", "--swarm", "-f", broken, "-p", "shop", "--env-file", "x.env"}, wantErr: "--env-file and --profile are for compose projects"},
		{name: "stack file that does not load", args: []string{"deploy", "--swarm", "-f", broken, "-p", "shop"}, wantErr: "replcas"},
		{name: "missing stack file", args: []string{"deploy", "--swarm", "-f", filepath.Join(dir, "none.yaml"), "-p", "shop"}, wantErr: "none.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "forge")
			cli := newTestCLI(t)
			_, err := run(t, cli, false, append(tt.args, "--data-dir", dataDir)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("%v: error %v, want it to contain %q", tt.args, err, tt.wantErr)
			}
			if _, serr := os.Stat(dataDir); !os.IsNotExist(serr) {
				t.Errorf("the data dir %s was created (%v): the command got past its checks", dataDir, serr)
			}
			if cli.out.Len() != 0 {
				t.Errorf("the command printed %q before failing", cli.out)
			}
		})
	}
}
