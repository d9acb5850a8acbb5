package gitsrc

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// remote is a Source.URL taken apart: what may be stored, and the
// credentials that must not be.
type remote struct {
	url  string // as stored in .git/config: no password, no http user info
	user string // an http(s) URL's user
	pass string // a URL's password
	base string // "scheme://host/" of an http(s) remote, else ""
	ssh  bool
}

var transportHelper = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*::`)

// parseRemote checks a repository URL and strips its credentials. Errors
// never quote the URL, which may hold a password.
func parseRemote(raw string) (remote, error) {
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return remote{}, errors.New("no repository URL")
	case strings.HasPrefix(raw, "-"):
		return remote{}, errors.New(`repository URL starts with "-"`)
	case strings.ContainsFunc(raw, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return remote{}, errors.New("repository URL holds control characters")
	case transportHelper.MatchString(raw):
		return remote{}, errors.New(`repository URL names a transport helper ("transport::address"); use https, http, ssh, git or file`)
	case strings.Contains(raw, "://"):
		return parseURL(raw)
	case isSCPLike(raw):
		return remote{url: raw, ssh: true}, nil
	case filepath.IsAbs(raw):
		return remote{url: raw}, nil
	}
	return remote{}, errors.New("repository URL is neither a URL, user@host:path, nor an absolute path")
}

func parseURL(raw string) (remote, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" && u.Scheme != "file" {
		return remote{}, errors.New("repository URL does not parse")
	}
	var r remote
	if u.User != nil {
		r.pass, _ = u.User.Password()
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.User != nil {
			r.user = u.User.Username()
		}
		u.User = nil
		r.base = u.Scheme + "://" + u.Host + "/"
	case "ssh", "git+ssh", "ssh+git":
		if u.User != nil {
			u.User = url.User(u.User.Username()) // keep "git@", drop any password
		}
		r.ssh = true
	case "git", "file":
		u.User = nil
	default:
		return remote{}, fmt.Errorf("repository URL scheme %q: want https, http, ssh, git or file", u.Scheme)
	}
	r.url = u.String()
	return r, nil
}

// isSCPLike reports git's user@host:path form: a colon before any slash.
func isSCPLike(s string) bool {
	colon := strings.IndexByte(s, ':')
	slash := strings.IndexByte(s, '/')
	return colon > 0 && (slash < 0 || colon < slash)
}

// auth is what a git call needs to reach a remote, and what it must hide.
type auth struct {
	env     []string    // extra environment variables
	config  [][2]string // git settings passed through the environment
	secrets []string    // strings scrubbed from git's output
}

// newAuth turns credentials into git's environment. An HTTPS token travels as
// an http.extraHeader scoped to the remote's scheme and host, inside the
// environment: never on a command line, never in .git/config.
func newAuth(r remote, cred Credentials) (auth, error) {
	var a auth
	token := cred.Token
	if token == "" {
		token = r.pass
	}
	if r.base != "" && token != "" {
		user := cred.Username
		if user == "" {
			user = r.user
		}
		if user == "" {
			user = "x-access-token"
		}
		basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + token))
		a.config = append(a.config, [2]string{"http." + r.base + ".extraHeader", "Authorization: Basic " + basic})
		a.secrets = append(a.secrets, basic)
	}
	a.secrets = append(a.secrets, cred.Token, r.pass)

	ssh := "ssh -o BatchMode=yes -o ConnectTimeout=30 -o StrictHostKeyChecking=accept-new"
	if r.ssh && cred.SSHKeyFile != "" {
		if _, err := os.Stat(cred.SSHKeyFile); err != nil {
			return auth{}, fmt.Errorf("ssh key: %w", err)
		}
		ssh += " -o IdentitiesOnly=yes -i " + shellQuote(cred.SSHKeyFile)
	}
	a.env = append(a.env, "GIT_SSH_COMMAND="+ssh)
	return a, nil
}

// shellQuote quotes s for the shell git runs GIT_SSH_COMMAND with.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// scrub replaces every secret, as is and URL-escaped, with "xxxxx".
func scrub(s string, secrets []string) string {
	var forms []string
	for _, sec := range secrets {
		if sec != "" {
			forms = append(forms, sec, url.QueryEscape(sec), url.PathEscape(sec))
		}
	}
	// Longest first, so a secret that contains another goes whole.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, "xxxxx")
	}
	return s
}

// scrubCut scrubs output that may have been cut short: the cut may have
// split a secret, so the tail where a secret's head could sit goes too.
func scrubCut(s string, cut bool, secrets []string) string {
	s = scrub(s, secrets)
	if !cut {
		return s
	}
	longest := 0
	for _, sec := range secrets {
		longest = max(longest, len(url.QueryEscape(sec)), len(url.PathEscape(sec)))
	}
	return s[:max(len(s)-longest, 0)]
}

// validBranch applies git's rules for a branch name, and refuses names that
// git would read as an option.
func validBranch(b string) error {
	bad := b == "" || b == "@" || strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") ||
		strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") ||
		strings.Contains(b, "..") || strings.Contains(b, "@{") || strings.Contains(b, "//") ||
		strings.ContainsFunc(b, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune(`~^:?*[\`, r) })
	for c := range strings.SplitSeq(b, "/") {
		bad = bad || strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".lock")
	}
	if bad {
		return fmt.Errorf("invalid branch name %q", b)
	}
	return nil
}
