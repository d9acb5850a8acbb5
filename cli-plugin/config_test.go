package cliplugin

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigGitCredentials(t *testing.T) {
	t.Setenv("FORGE_WEBHOOK_SECRET", "")
	t.Setenv("FORGE_WEBHOOK_SECRET_FILE", "")
	dir := t.TempDir()
	token := writeFile(t, dir, "token", "ghp_s3cret-token\n")
	key := writeFile(t, dir, "deploy-key", "-----BEGIN OPENSSH PRIVATE KEY-----\n")
	cfg := writeFile(t, dir, "config.yaml", `webhook:
  secret: hook-secret
git:
  credentials:
    - repository: https://git.example.com
      token_file: `+token+`
    - repository: https://git.example.com/acme/shop
      token_file: `+token+`
      username: deployer
    - repository: git@github.com:acme/
      ssh_key_file: `+key+`
`)
	s, err := loadSecrets(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.gitCredentials("https://git.example.com/acme/shop.git"); c.Token != "ghp_s3cret-token" || c.Username != "deployer" {
		t.Errorf("the longest prefix must win: %+v", c)
	}
	if c := s.gitCredentials("https://git.example.com/acme/blog.git"); c.Token != "ghp_s3cret-token" || c.Username != "" {
		t.Errorf("host-wide credential: %+v", c)
	}
	if c := s.gitCredentials("git@github.com:acme/shop.git"); c.SSHKeyFile != key || c.Token != "" {
		t.Errorf("ssh credential: %+v", c)
	}
	for _, repo := range []string{"https://elsewhere.example.com/x.git", "https://git.example.com.evil.io/acme/x.git"} {
		if c := s.gitCredentials(repo); c.Token != "" || c.SSHKeyFile != "" {
			t.Errorf("no credential should match %s: %+v", repo, c)
		}
	}
	if c := s.gitCredentials("https://elsewhere.example.com/x.git"); c.Token != "" || c.SSHKeyFile != "" {
		t.Errorf("no credential should match: %+v", c)
	}
	if !slices.Contains(s.all(), "ghp_s3cret-token") {
		t.Error("the git token is not among the secrets scrubbed from logs")
	}

	for _, tt := range []struct{ body, want string }{
		{"git:\n  credentials:\n    - token_file: " + token + "\n", "repository (a URL prefix) is required"},
		{"git:\n  credentials:\n    - repository: https://x/\n", "give token_file or ssh_key_file"},
		{"git:\n  credentials:\n    - repository: https://x/\n      token_file: " + token + "\n      ssh_key_file: " + key + "\n", "give token_file or ssh_key_file"},
		{"git:\n  credentials:\n    - repository: https://x/\n      token_file: " + filepath.Join(dir, "missing") + "\n", "no such file"},
		{"git:\n  credentials:\n    - repository: https://x/\n      token: inline\n", "field token not found"},
	} {
		_, err := loadSecrets(writeFile(t, dir, "bad.yaml", tt.body), true)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %q: error %v, want %q", tt.body, err, tt.want)
		}
	}
}
