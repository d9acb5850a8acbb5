package gitsrc_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain keeps the machine's git configuration out of the tests, for the
// helpers and for the package under test alike, and names the test author.
func TestMain(m *testing.M) {
	for k, v := range map[string]string{
		"GIT_CONFIG_GLOBAL":   os.DevNull,
		"GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME":     "Forge Test",
		"GIT_AUTHOR_EMAIL":    "test@forge.invalid",
		"GIT_COMMITTER_NAME":  "Forge Test",
		"GIT_COMMITTER_EMAIL": "test@forge.invalid",
	} {
		os.Setenv(k, v)
	}
	os.Exit(m.Run())
}

// git runs the git CLI in dir for a test's set-up and returns its output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// upstream is a project's repository: a bare repository in base, which the
// tests serve over file://, git daemon and smart HTTP, and a working clone
// that commits and pushes to it as a developer would.
type upstream struct {
	t    *testing.T
	base string // holds app.git
	bare string
	work string
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{t: t, base: t.TempDir(), work: filepath.Join(t.TempDir(), "work")}
	u.bare = filepath.Join(u.base, "app.git")
	git(t, u.base, "init", "--quiet", "--bare", "-b", "main", u.bare)
	git(t, u.base, "init", "--quiet", "-b", "main", u.work)
	git(t, u.work, "remote", "add", "origin", u.bare)
	return u
}

// commit writes files (an empty content removes the file), commits them and
// returns the new commit's SHA.
func (u *upstream) commit(msg string, files map[string]string) string {
	u.t.Helper()
	for name, content := range files {
		p := filepath.Join(u.work, filepath.FromSlash(name))
		if content == "" {
			if err := os.Remove(p); err != nil {
				u.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			u.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			u.t.Fatal(err)
		}
	}
	u.git("add", "-A")
	u.git("commit", "--quiet", "-m", msg)
	return u.git("rev-parse", "HEAD")
}

func (u *upstream) git(args ...string) string {
	u.t.Helper()
	return git(u.t, u.work, args...)
}

// freePort returns a loopback port that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// gitExecPath is where git keeps its helper programs.
func gitExecPath(t *testing.T) string {
	t.Helper()
	return git(t, "", "--exec-path")
}

// gitDaemon serves every repository in base over git:// on a free loopback
// port until the test ends, and returns the URL prefix.
func gitDaemon(t *testing.T, base string) string {
	t.Helper()
	// The program itself, not "git daemon": killing the git wrapper would
	// leave the daemon running.
	daemon := filepath.Join(gitExecPath(t), "git-daemon")
	if _, err := os.Stat(daemon); err != nil {
		t.Skipf("git daemon is not installed (%v); Debian ships it in the git package as /usr/lib/git-core/git-daemon", err)
	}
	port := freePort(t)
	cmd := exec.Command(daemon, "--reuseaddr", "--base-path="+base, "--export-all", "--informative-errors",
		"--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), base)
	// A file, not a buffer: the daemon's per-connection children share its
	// stderr, and Wait would wait for the last of them to close a pipe.
	logPath := filepath.Join(t.TempDir(), "git-daemon.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start git daemon: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("git daemon did not listen on %s: %s", addr, log)
		}
	}
	return "git://" + addr
}

// smartHTTP serves every repository in base through git-http-backend, behind
// Basic authentication that wants user and token, and returns the URL prefix.
func smartHTTP(t *testing.T, base, user, token string) string {
	t.Helper()
	backend := filepath.Join(gitExecPath(t), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Skipf("git-http-backend is not installed: %v", err)
	}
	cgiHandler := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + base, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="forge test"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		cgiHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
