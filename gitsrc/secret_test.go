package gitsrc_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge/gitsrc"
)

const token = "ghp_T0kenThatMustNeverLeak"

// leaks returns the forms of token found in s: as is, URL-escaped, or inside
// a Basic authorization header for any of the usernames the tests use.
func leaks(s string) []string {
	forms := []string{token}
	for _, user := range []string{"x-access-token", "forge", "git"} {
		forms = append(forms, base64.StdEncoding.EncodeToString([]byte(user+":"+token)))
	}
	var found []string
	for _, f := range forms {
		if strings.Contains(s, f) {
			found = append(found, f)
		}
	}
	return found
}

// checkNoLeak fails when the error, the log or any file under root holds the
// token.
func checkNoLeak(t *testing.T, err error, log *bytes.Buffer, root string) {
	t.Helper()
	if err != nil {
		if l := leaks(err.Error()); l != nil {
			t.Errorf("error holds %q: %v", l, err)
		}
	}
	if l := leaks(log.String()); l != nil {
		t.Errorf("log holds %q: %s", l, log)
	}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if l := leaks(string(b)); l != nil {
			t.Errorf("%s holds %q", p, l)
		}
		return nil
	})
}

// debugLogged returns Checkouts that log everything, down to each git call,
// into the returned buffer.
func debugLogged(root string, timeout time.Duration) (*gitsrc.Checkouts, *bytes.Buffer) {
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return gitsrc.New(gitsrc.Config{Root: root, Timeout: timeout, Logger: logger}), &log
}

// TestTokenNeverStored sends a token to a closed port: the error, the log and
// .git/config must not hold it, and the stored URL has no user info.
func TestTokenNeverStored(t *testing.T) {
	closed := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	tests := []struct {
		name   string
		url    string
		cred   gitsrc.Credentials
		stored string
	}{
		{name: "token in credentials", url: "http://" + closed + "/acme/app.git", cred: gitsrc.Credentials{Token: token}, stored: "http://" + closed + "/acme/app.git"},
		{name: "token in URL", url: "http://forge:" + token + "@" + closed + "/acme/app.git", stored: "http://" + closed + "/acme/app.git"},
		{name: "both, over https", url: "https://git:" + token + "@" + closed + "/app", cred: gitsrc.Credentials{Token: token}, stored: "https://" + closed + "/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			c, log := debugLogged(root, 10*time.Second)
			_, err := c.Sync(t.Context(), "app", gitsrc.Source{URL: tt.url, Branch: "main"}, tt.cred, "")
			if !errors.Is(err, gitsrc.ErrUnreachable) {
				t.Errorf("err = %v, want ErrUnreachable", err)
			}
			checkNoLeak(t, err, log, root)
			if got := git(t, filepath.Join(root, "app"), "config", "remote.origin.url"); got != tt.stored {
				t.Errorf("stored URL = %q, want %q", got, tt.stored)
			}
		})
	}
}

// TestTokenAuth serves a private repository through git-http-backend behind
// Basic authentication: no token and a wrong one are refused at once, never
// waiting on a prompt; the right one, from the credentials or the URL, works;
// none of them reaches an error, the log or the disk.
func TestTokenAuth(t *testing.T) {
	u := newUpstream(t)
	tip := u.commit("one", map[string]string{"compose.yaml": "v1"})
	u.git("push", "--quiet", "origin", "main")
	srv := smartHTTP(t, u.base, "forge", token)
	host := strings.TrimPrefix(srv, "http://")

	tests := []struct {
		name string
		url  string
		cred gitsrc.Credentials
		want error
	}{
		{name: "no token", url: srv + "/app.git", want: gitsrc.ErrUnreachable},
		{name: "wrong token", url: srv + "/app.git", cred: gitsrc.Credentials{Token: token + "-wrong", Username: "forge"}, want: gitsrc.ErrUnreachable},
		{name: "token in credentials", url: srv + "/app.git", cred: gitsrc.Credentials{Token: token, Username: "forge"}},
		{name: "token in URL", url: "http://forge:" + token + "@" + host + "/app.git"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			c, log := debugLogged(root, 10*time.Second)
			start := time.Now()
			co, err := c.Sync(t.Context(), "app", gitsrc.Source{URL: tt.url, Branch: "main"}, tt.cred, "")
			if tt.want != nil && !errors.Is(err, tt.want) || tt.want == nil && (err != nil || co.Commit != tip) {
				t.Errorf("Sync = %+v, %v; want %v", co, err, tt.want)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s: something waited for a prompt", took)
			}
			checkNoLeak(t, err, log, root)
			if strings.Contains(fmt.Sprint(err), "-wrong") {
				t.Errorf("error holds the wrong token: %v", err)
			}
		})
	}
}

// TestHostileServerEchoesToken talks to a server that sends the credentials
// it got back in its error message: git prints that message, and it must
// reach the error scrubbed.
func TestHostileServerEchoesToken(t *testing.T) {
	pkt := func(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
		fmt.Fprint(w, pkt("# service=git-upload-pack\n")+"0000"+
			pkt(fmt.Sprintf("ERR you sent %s (%s:%s)\n", r.Header.Get("Authorization"), user, pass)))
	}))
	defer srv.Close()

	root := t.TempDir()
	c, log := debugLogged(root, 10*time.Second)
	_, err := c.Sync(t.Context(), "app", gitsrc.Source{URL: srv.URL + "/app.git", Branch: "main"}, gitsrc.Credentials{Token: token}, "")
	if !errors.Is(err, gitsrc.ErrUnreachable) || !strings.Contains(err.Error(), "remote error: you sent Basic xxxxx (x-access-token:xxxxx)") {
		t.Errorf("err = %v, want ErrUnreachable with the server's message scrubbed", err)
	}
	checkNoLeak(t, err, log, root)
}

// TestUnreachable fails fast, with ErrUnreachable, on remotes that refuse,
// do not exist or never answer.
func TestUnreachable(t *testing.T) {
	closed := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	silent := silentServer(t)
	key := filepath.Join(t.TempDir(), "deploy key's file")
	const keyMaterial = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ-secret-key-material"
	if err := os.WriteFile(key, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"+keyMaterial+"\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		url     string
		cred    gitsrc.Credentials
		timeout time.Duration
		needs   string // a program the case needs
	}{
		{name: "git port closed", url: "git://" + closed + "/app.git"},
		{name: "http port closed", url: "http://" + closed + "/app.git", cred: gitsrc.Credentials{Token: token}},
		{name: "ssh port closed", url: "ssh://git@" + closed + "/app.git", cred: gitsrc.Credentials{SSHKeyFile: key}, needs: "ssh"},
		{name: "no repository at path", url: "file://" + filepath.Join(t.TempDir(), "missing.git")},
		{name: "server never answers", url: "git://" + silent + "/app.git", timeout: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.needs != "" {
				if _, err := exec.LookPath(tt.needs); err != nil {
					t.Skipf("%s is not installed", tt.needs)
				}
			}
			timeout := cmp(tt.timeout, 10*time.Second)
			root := t.TempDir()
			c, log := debugLogged(root, timeout)
			start := time.Now()
			_, err := c.Sync(t.Context(), "app", gitsrc.Source{URL: tt.url, Branch: "main"}, tt.cred, "")
			if !errors.Is(err, gitsrc.ErrUnreachable) {
				t.Errorf("err = %v, want ErrUnreachable", err)
			}
			t.Log(err)
			if took := time.Since(start); took > timeout+3*time.Second {
				t.Errorf("took %s, timeout %s", took, timeout)
			}
			checkNoLeak(t, err, log, root)
			if strings.Contains(fmt.Sprint(err), keyMaterial) || strings.Contains(log.String(), keyMaterial) {
				t.Errorf("the key's contents leaked: %v", err)
			}
		})
	}
}

func cmp(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// silentServer accepts connections on loopback and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; conn.Close() }()
		}
	}()
	t.Cleanup(func() { close(done); l.Close() })
	return l.Addr().String()
}
