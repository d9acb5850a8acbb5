package cliplugin

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/cli/cli/config"
)

// The -update flag rewrites testdata/*.golden from the commands' output.
// gotest.tools, which the compose SDK links into this binary, already defines
// a global -update flag; a second definition would panic, so this package
// defines it only when it is absent and reads whichever is there.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the cli-plugin/testdata/*.golden files from the commands' output")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// fakeDockerConfig is the Docker config dir the tests pretend to have, so
// that the --data-dir default in the help goldens does not depend on who
// runs them.
const fakeDockerConfig = "/home/user/.docker"

// TestMain pins what the command tree reads from the environment before any
// test builds it: docker/cli's config.Dir() reads $DOCKER_CONFIG once (in a
// sync.Once) and caches it, so it is set here and with config.SetDir, and
// the FORGE_* variables that change flag defaults are cleared. Times in table
// output are printed in the local zone, so the zone is UTC.
func TestMain(m *testing.M) {
	os.Setenv("DOCKER_CONFIG", fakeDockerConfig)
	config.SetDir(fakeDockerConfig)
	for _, k := range []string{"FORGE_DATA_DIR", "FORGE_LOG_LEVEL", "FORGE_ADDR", "FORGE_WEBHOOK_SECRET", "FORGE_WEBHOOK_SECRET_FILE"} {
		os.Unsetenv(k)
	}
	time.Local = time.UTC
	os.Exit(m.Run())
}

// checkGolden compares got with testdata/<name>.golden, or rewrites the
// file with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if updating() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test ./cli-plugin -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden (run go test ./cli-plugin -update and review the diff)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
