package forge_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirections keeps the arrows of DESIGN.md pointing down: the
// vocabulary stays standard library only, the listener and the ledger never
// reach Docker, and only main and the command tree wire everything.
func TestImportDirections(t *testing.T) {
	const mod = "github.com/docker-forge/docker-forge"
	dockerSide := []string{"github.com/docker/compose/", "github.com/docker/cli/", "github.com/moby/moby/client"}
	tests := []struct {
		pkg       string
		forbidden []string
		stdOnly   bool
	}{
		{pkg: mod, stdOnly: true},
		{pkg: mod + "/webhook", forbidden: append([]string{"go.etcd.io/bbolt", mod + "/dispatch", mod + "/engine", mod + "/ledger"}, dockerSide...)},
		{pkg: mod + "/ledger", forbidden: append([]string{mod + "/engine", mod + "/dispatch", mod + "/webhook"}, dockerSide...)},
		{pkg: mod + "/dispatch", forbidden: append([]string{mod + "/engine", mod + "/webhook", mod + "/api"}, dockerSide...)},
		{pkg: mod + "/engine", forbidden: []string{mod + "/dispatch", mod + "/webhook", mod + "/ledger", mod + "/api", "go.etcd.io/bbolt"}},
		{pkg: mod + "/api", forbidden: []string{mod + "/cli-plugin", mod + "/engine"}},
		{pkg: mod + "/registry", forbidden: append([]string{mod + "/engine", mod + "/dispatch", mod + "/ledger", "go.etcd.io/bbolt"}, dockerSide...)},
		{pkg: mod + "/collector", forbidden: append([]string{mod + "/engine", mod + "/dispatch", mod + "/webhook", mod + "/api"}, dockerSide...)},
		{pkg: mod + "/gitsrc", stdOnly: true},
		{pkg: mod + "/poll", forbidden: append([]string{mod + "/engine", mod + "/dispatch", mod + "/ledger", mod + "/webhook"}, dockerSide...)},
		{pkg: mod + "/web", forbidden: append([]string{mod + "/engine", mod + "/cli-plugin"}, dockerSide...)},
		{pkg: mod + "/notify", forbidden: append([]string{mod + "/engine", mod + "/dispatch", mod + "/webhook", mod + "/api", mod + "/web", mod + "/cli-plugin"}, dockerSide...)},
		{pkg: mod + "/expose", stdOnly: true},
		{pkg: mod + "/certs", forbidden: append([]string{mod + "/engine", mod + "/ledger", mod + "/dispatch", mod + "/webhook", mod + "/api", mod + "/web", "go.etcd.io/bbolt"}, dockerSide...)},
		{pkg: mod + "/auth", forbidden: append([]string{mod + "/engine", mod + "/ledger", mod + "/dispatch", mod + "/api", mod + "/web", "go.etcd.io/bbolt"}, dockerSide...)},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", tt.pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", tt.pkg, err)
			}
			for _, dep := range strings.Fields(string(out)) {
				if dep == tt.pkg {
					continue
				}
				first, _, _ := strings.Cut(dep, "/")
				if tt.stdOnly && strings.Contains(first, ".") {
					t.Errorf("%s imports %s; it must stay standard library only", tt.pkg, dep)
				}
				for _, f := range tt.forbidden {
					if dep == f || strings.HasPrefix(dep, f) && (strings.HasSuffix(f, "/") || strings.HasPrefix(dep, f+"/")) {
						t.Errorf("%s must not import %s (via %s)", tt.pkg, f, dep)
					}
				}
			}
		})
	}
}
