// Package gitsrc keeps docker-forge's own git checkouts of compose projects'
// source repositories, driven through the git CLI. Every checkout lives in
// Root/<project>, a plain clone that forge alone writes to: a user's working
// copy is never opened, and git is always told exactly which repository to use,
// so it cannot wander into a repository above Root.
//
// Every git call runs with a timeout, with terminal prompts and askpass
// helpers disabled, with hooks switched off and with only the file, git, http,
// https and ssh transports allowed. An HTTPS token reaches git through the
// environment as an http.extraHeader scoped to the remote's host, never on a
// command line or in .git/config, and it is scrubbed from git's output before
// that output goes into an error.
//
// Calls for one project run one at a time within a process; two processes
// sharing a Root are not coordinated beyond git's own lock files.
package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// ErrNotOnBranch is returned when a commit exists but is not reachable from
// the branch's fetched tip: pushed to another branch, or removed by a force-push.
var ErrNotOnBranch = errors.New("gitsrc: commit not on branch")

// ErrNoSuchCommit is returned when a commit is not in the repository, or is
// not a hexadecimal object name.
var ErrNoSuchCommit = errors.New("gitsrc: no such commit")

// ErrNoSuchBranch is returned when the remote has no such branch, for example
// after the branch was deleted.
var ErrNoSuchBranch = errors.New("gitsrc: no such branch")

// ErrUnreachable is returned when the remote cannot be read: no route,
// connection refused, timed out, authentication failed or not a repository.
var ErrUnreachable = errors.New("gitsrc: remote unreachable")

// DefaultTimeout bounds each git call when Config.Timeout is 0.
const DefaultTimeout = 2 * time.Minute

// Source is where a compose project's files come from.
type Source struct {
	// URL is an https://, http://, ssh://, git://, file:// URL, an scp-like
	// user@host:path, or an absolute local path. User info in an http(s) URL
	// is used as credentials and never stored.
	URL string
	// Branch is the branch deploys follow, for example "main".
	Branch string
	// Path is the directory of the compose file within the repository,
	// slash-separated; "" means the repository root.
	Path string
}

// Credentials open a private repository. They are never logged or stored.
type Credentials struct {
	// Token is sent over HTTPS as the password of Basic authentication.
	Token string
	// Username goes with Token; "" means the URL's user, else "x-access-token".
	Username string
	// SSHKeyFile is the path of an SSH deploy key for ssh remotes.
	SSHKeyFile string
}

// Checkout is the outcome of a Sync.
type Checkout struct {
	// Dir is the directory that holds the compose file: Root/<project>/<Path>.
	Dir string
	// Commit is the full SHA now checked out.
	Commit string
	// Previous is the full SHA checked out before, "" if none.
	Previous string
}

// Config configures Checkouts.
type Config struct {
	// Root holds one checkout per project, for example <data-dir>/checkouts.
	Root string
	// Git is the git binary; "" means "git" on PATH.
	Git string
	// Timeout bounds each git call; 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger gets a line per checkout, and one per git call at debug level;
	// nil discards them. No line holds a credential.
	Logger *slog.Logger
}

// Checkouts manages the checkouts under one root. It is safe for concurrent
// use: calls for the same project run one at a time.
type Checkouts struct {
	root    string
	git     string
	timeout time.Duration
	log     *slog.Logger

	mu    sync.Mutex
	locks map[string]chan struct{} // project -> a one-slot semaphore
}

// New returns Checkouts rooted at cfg.Root. It touches no file until the
// first call.
func New(cfg Config) *Checkouts {
	c := &Checkouts{root: cfg.Root, git: cfg.Git, timeout: cfg.Timeout, log: cfg.Logger, locks: map[string]chan struct{}{}}
	if abs, err := filepath.Abs(c.root); err == nil && c.root != "" {
		c.root = abs // git runs in other directories; a relative root would move
	}
	if c.git == "" {
		c.git = "git"
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "gitsrc")
	return c
}

// Sync fetches src.Branch into the project's checkout, cloning on first use,
// and checks out commit detached; "" means the branch tip. The commit must be
// reachable from the fetched tip, else the error wraps ErrNotOnBranch.
// Tracked files are reset to the commit; untracked files, such as a bind
// mount's data, are left alone.
//
// Each check runs after the fetch, before the checkout moves, with the
// branch's tip, the resolved commit and an ancestry test; an error from one
// refuses the sync and leaves the checkout where it was.
func (c *Checkouts) Sync(ctx context.Context, project string, src Source, cred Credentials, commit string, checks ...Check) (Checkout, error) {
	co, err := c.sync(ctx, project, src, cred, commit, checks)
	if err != nil {
		return Checkout{}, fmt.Errorf("sync %s: %w", project, err)
	}
	return co, nil
}

// Check vets a commit before Sync checks it out: tip is the branch's fetched
// tip, commit the full SHA to check out, and isAncestor(a, b) reports
// whether commit a is reachable from commit b.
type Check func(ctx context.Context, tip, commit string, isAncestor func(a, b string) (bool, error)) error

func (c *Checkouts) sync(ctx context.Context, project string, src Source, cred Credentials, commit string, checks []Check) (Checkout, error) {
	if err := validCommit(commit, true); err != nil {
		return Checkout{}, err
	}
	sub, err := validSubPath(src.Path)
	if err != nil {
		return Checkout{}, err
	}
	unlock, err := c.lock(ctx, project)
	if err != nil {
		return Checkout{}, err
	}
	defer unlock()

	r, tip, err := c.fetch(ctx, project, src, cred)
	if err != nil {
		return Checkout{}, err
	}
	sha := tip
	if commit != "" {
		if sha, err = c.resolveOnBranch(ctx, r, src.Branch, tip, commit); err != nil {
			return Checkout{}, err
		}
	}
	for _, check := range checks {
		ancestor := func(a, b string) (bool, error) { return r.isAncestor(ctx, a, b) }
		if err := check(ctx, tip, sha, ancestor); err != nil {
			return Checkout{}, err
		}
	}
	// Refuse a commit without the compose directory before moving the
	// checkout, which running services' bind mounts may point into. Git does
	// not follow symbolic links in tree paths, so a link out of the
	// repository is no tree either.
	spec := sha + ":"
	if sub != "." {
		spec += sub
	}
	if kind, err := r.run(ctx, "cat-file", "-t", spec); ctx.Err() != nil {
		return Checkout{}, err
	} else if err != nil || strings.TrimSpace(kind) != "tree" {
		return Checkout{}, fmt.Errorf("commit %s has no directory %q", short(sha), sub)
	}
	prev, _, err := r.resolve(ctx, "HEAD")
	if err != nil {
		return Checkout{}, err
	}
	if _, err := r.run(ctx, "checkout", "--quiet", "--force", "--detach", sha); err != nil {
		return Checkout{}, fmt.Errorf("check out %s: %w", short(sha), err)
	}
	dir := filepath.Join(r.dir, filepath.FromSlash(sub))
	c.log.Info("checked out", "project", project, "branch", src.Branch, "commit", sha, "previous", prev)
	return Checkout{Dir: dir, Commit: sha, Previous: prev}, nil
}

// resolveOnBranch turns commit into a full SHA and checks that tip reaches it.
// A full SHA that the branch did not bring is asked for by name, so a commit
// on another branch reads as ErrNotOnBranch rather than ErrNoSuchCommit where
// the server allows it.
func (c *Checkouts) resolveOnBranch(ctx context.Context, r repo, branch, tip, commit string) (string, error) {
	sha, ok, err := r.resolve(ctx, commit+"^{commit}")
	if err != nil {
		return "", err
	}
	if !ok && (len(commit) == 40 || len(commit) == 64) {
		if _, err := r.run(ctx, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "origin", commit); err != nil {
			c.log.Debug("fetch by commit", "project", r.project, "commit", commit, "err", err)
		}
		sha, ok, err = r.resolve(ctx, commit+"^{commit}")
		if err != nil {
			return "", err
		}
	}
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrNoSuchCommit, commit)
	}
	on, err := r.isAncestor(ctx, sha, tip)
	if err != nil {
		return "", err
	}
	if !on {
		return "", fmt.Errorf("%w: %s is not reachable from %s (%s)", ErrNotOnBranch, short(sha), branch, short(tip))
	}
	return sha, nil
}

// Fetch brings the project's checkout up to date with src.Branch, cloning on
// first use, and returns the branch's tip. It checks nothing out.
func (c *Checkouts) Fetch(ctx context.Context, project string, src Source, cred Credentials) (string, error) {
	unlock, err := c.lock(ctx, project)
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", project, err)
	}
	defer unlock()
	_, tip, err := c.fetch(ctx, project, src, cred)
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", project, err)
	}
	return tip, nil
}

// lock takes the project's semaphore, or gives up when ctx ends.
func (c *Checkouts) lock(ctx context.Context, project string) (func(), error) {
	if err := validProject(project); err != nil {
		return nil, err
	}
	c.mu.Lock()
	sem, ok := c.locks[project]
	if !ok {
		sem = make(chan struct{}, 1)
		c.locks[project] = sem
	}
	c.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for another git call: %w", ctx.Err())
	}
}

var projectName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// validProject accepts compose project names, which cannot leave Root.
func validProject(name string) error {
	if len(name) > 255 || !projectName.MatchString(name) {
		return fmt.Errorf("invalid project name %q: want [a-z0-9][a-z0-9_-]*", name)
	}
	return nil
}

var hexName = regexp.MustCompile(`^[0-9a-f]{4,64}$`)

// validCommit accepts full or abbreviated hexadecimal object names only, so
// nothing like "HEAD~1" or "--option" reaches git.
func validCommit(commit string, emptyOK bool) error {
	if commit == "" && emptyOK {
		return nil
	}
	if !hexName.MatchString(commit) {
		return fmt.Errorf("%w: %q is not a hexadecimal commit name", ErrNoSuchCommit, commit)
	}
	return nil
}

// validSubPath checks that a Source.Path stays inside the repository and
// returns it cleaned.
func validSubPath(p string) (string, error) {
	clean := cleanSlash(p)
	if !filepath.IsLocal(filepath.FromSlash(clean)) {
		return "", fmt.Errorf("invalid path %q: want a directory inside the repository", p)
	}
	return clean, nil
}

func cleanSlash(p string) string {
	p = filepath.ToSlash(filepath.Clean(filepath.FromSlash(p)))
	return strings.TrimPrefix(p, "./")
}

func trackingRef(branch string) string { return "refs/remotes/origin/" + branch }

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
