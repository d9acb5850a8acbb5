package gitsrc

import (
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestParseRemote(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want remote
		err  string
	}{
		{name: "https", raw: "https://github.com/acme/app.git", want: remote{url: "https://github.com/acme/app.git", base: "https://github.com/"}},
		{name: "https with token", raw: "https://x-access-token:tok%40en@github.com/acme/app.git",
			want: remote{url: "https://github.com/acme/app.git", user: "x-access-token", pass: "tok@en", base: "https://github.com/"}},
		{name: "http with user only, port", raw: "http://forge@127.0.0.1:3000/acme/app", want: remote{url: "http://127.0.0.1:3000/acme/app", user: "forge", base: "http://127.0.0.1:3000/"}},
		{name: "ssh keeps its user", raw: "ssh://git@example.com:2222/acme/app.git", want: remote{url: "ssh://git@example.com:2222/acme/app.git", ssh: true}},
		{name: "ssh drops a password", raw: "ssh://git:pw@example.com/app.git", want: remote{url: "ssh://git@example.com/app.git", pass: "pw", ssh: true}},
		{name: "scp-like", raw: "git@github.com:acme/app.git", want: remote{url: "git@github.com:acme/app.git", ssh: true}},
		{name: "git daemon", raw: "git://127.0.0.1:9418/app.git", want: remote{url: "git://127.0.0.1:9418/app.git"}},
		{name: "file URL", raw: "file:///srv/git/app.git", want: remote{url: "file:///srv/git/app.git"}},
		{name: "absolute path", raw: "/srv/git/app.git", want: remote{url: "/srv/git/app.git"}},
		{name: "empty", raw: " ", err: "no repository URL"},
		{name: "option", raw: "-oProxyCommand=x", err: `starts with "-"`},
		{name: "newline", raw: "https://h/a\n[core]", err: "control characters"},
		{name: "ext transport", raw: "ext::sh -c id", err: "transport helper"},
		{name: "fd transport", raw: "fd::3", err: "transport helper"},
		{name: "unknown scheme", raw: "ftp://h/app.git", err: `scheme "ftp"`},
		{name: "bad URL hides its password", raw: "https://u:s3cret@h:port/app", err: "does not parse"},
		{name: "relative path", raw: "app.git", err: "absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRemote(tt.raw)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseRemote = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// FuzzParseRemote checks that whatever URL a compose file carries, what is
// stored holds no password and no http(s) user info.
func FuzzParseRemote(f *testing.F) {
	for _, s := range []string{"https://u:p@h/a", "ssh://u:p@h/a", "git@h:a", "/srv/a", "file:///a", "git://h/a", "x::y", "https://h:1/a?b#c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := parseRemote(raw)
		if err != nil || !strings.Contains(r.url, "://") {
			return
		}
		u, err := url.Parse(r.url)
		if err != nil {
			t.Fatalf("stored URL %q does not parse: %v", r.url, err)
		}
		if _, has := u.User.Password(); has || r.base != "" && u.User != nil {
			t.Fatalf("stored URL %q keeps credentials (from %q)", r.url, raw)
		}
	})
}

func TestScrub(t *testing.T) {
	secrets := []string{"tok/en+1", "dG9rZW4=", ""}
	tests := []struct{ name, in, want string }{
		{name: "plain", in: "fatal: tok/en+1 refused", want: "fatal: xxxxx refused"},
		{name: "query-escaped", in: "https://h/?t=tok%2Fen%2B1", want: "https://h/?t=xxxxx"},
		{name: "path-escaped", in: "https://u:tok%2Fen+1@h/", want: "https://u:xxxxx@h/"},
		{name: "header", in: "Authorization: Basic dG9rZW4=", want: "Authorization: Basic xxxxx"},
		{name: "nothing secret", in: "fatal: no route", want: "fatal: no route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scrub(tt.in, secrets); got != tt.want {
				t.Errorf("scrub = %q, want %q", got, tt.want)
			}
		})
	}
	// Output cut inside a secret keeps none of its head.
	if got := scrubCut("fatal: abc tok/en", true, secrets); strings.Contains(got, "tok") {
		t.Errorf("scrubCut kept a secret's head: %q", got)
	}
}

// TestShellQuote runs the quoted key path through a real shell, as git runs
// GIT_SSH_COMMAND.
func TestShellQuote(t *testing.T) {
	for _, s := range []string{"/keys/deploy", "/keys/it's a key", `/k/$(id) "x" \n`, ""} {
		out, err := exec.Command("sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("sh got %q, %v; want %q", out, err, s)
		}
	}
}

func TestValidBranch(t *testing.T) {
	for _, b := range []string{"main", "release/1.x", "feature_a-b", "v1.2"} {
		if err := validBranch(b); err != nil {
			t.Errorf("%q: %v", b, err)
		}
	}
	for _, b := range []string{"", "-x", "a..b", "a b", "a:b", "a~1", "a^", "/a", "a/", "a.", ".a", "a/.b", "a.lock", "a@{1}", "@", "a//b", "a\\b", "a*"} {
		if validBranch(b) == nil {
			t.Errorf("%q accepted", b)
		}
	}
}

// TestGitEnv drops what would point git at another repository, prompt, trace
// or run another ssh, and keeps the rest.
func TestGitEnv(t *testing.T) {
	base := []string{"PATH=/usr/bin", "HOME=/root", "GIT_DIR=/home/u/project/.git", "GIT_WORK_TREE=/home/u/project",
		"GIT_SSH_COMMAND=evil", "GIT_ASKPASS=/usr/bin/ksshaskpass", "SSH_ASKPASS=/x", "GIT_TRACE=1", "GIT_CURL_VERBOSE=1",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=core.sshCommand", "GIT_CONFIG_VALUE_0=evil", "LC_ALL=de_DE.UTF-8",
		"GIT_SSL_CAINFO=/etc/ca.pem", "http_proxy=http://proxy:3128"}
	a := auth{env: []string{"GIT_SSH_COMMAND=ssh -o BatchMode=yes"}, config: [][2]string{{"http.https://h/.extraHeader", "Authorization: Basic x"}}}
	env := gitEnv(base, a)
	for _, want := range []string{"PATH=/usr/bin", "HOME=/root", "GIT_SSL_CAINFO=/etc/ca.pem", "http_proxy=http://proxy:3128",
		"LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "GIT_SSH_COMMAND=ssh -o BatchMode=yes",
		"GIT_CONFIG_COUNT=6", "GIT_CONFIG_KEY_5=http.https://h/.extraHeader", "GIT_CONFIG_VALUE_5=Authorization: Basic x"} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %q", want)
		}
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if strings.Contains(v, "evil") || slices.Contains([]string{"GIT_DIR", "GIT_WORK_TREE", "SSH_ASKPASS", "GIT_TRACE", "GIT_CURL_VERBOSE"}, k) {
			t.Errorf("env keeps %q", kv)
		}
	}
}
