package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// repo is one project's checkout and what its git calls need.
type repo struct {
	c       *Checkouts
	project string
	dir     string
	auth    auth
	unlock  func() // set by existing
}

func (r repo) run(ctx context.Context, args ...string) (string, error) {
	return r.c.run(ctx, r.dir, r.auth, args...)
}

// resolve turns a revision into a full SHA; ok is false when there is none.
func (r repo) resolve(ctx context.Context, rev string) (sha string, ok bool, err error) {
	out, err := r.run(ctx, "rev-parse", "--verify", "--quiet", rev)
	if exitCode(err) == 1 {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return strings.TrimSpace(out), true, nil
}

// isAncestor reports whether commit is reachable from tip.
func (r repo) isAncestor(ctx context.Context, commit, tip string) (bool, error) {
	_, err := r.run(ctx, "merge-base", "--is-ancestor", commit, tip)
	if exitCode(err) == 1 {
		return false, nil
	}
	return err == nil, err
}

// fetch makes sure the project's checkout exists, points at src.URL, and has
// src.Branch's current tip, which it returns. The caller holds the lock.
func (c *Checkouts) fetch(ctx context.Context, project string, src Source, cred Credentials) (repo, string, error) {
	if err := validProject(project); err != nil {
		return repo{}, "", err
	}
	if err := validBranch(src.Branch); err != nil {
		return repo{}, "", err
	}
	rem, err := parseRemote(src.URL)
	if err != nil {
		return repo{}, "", err
	}
	a, err := newAuth(rem, cred)
	if err != nil {
		return repo{}, "", err
	}
	r := repo{c: c, project: project, dir: filepath.Join(c.root, project), auth: a}
	if err := c.ensure(ctx, r, rem.url); err != nil {
		return repo{}, "", err
	}
	ref := trackingRef(src.Branch)
	_, err = r.run(ctx, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "origin", "+refs/heads/"+src.Branch+":"+ref)
	switch {
	case err != nil && ctx.Err() != nil:
		return repo{}, "", err
	case err != nil && strings.Contains(err.Error(), "couldn't find remote ref"):
		// The branch is gone: forget its last tip, so that nothing reads as
		// on it any more.
		if _, derr := r.run(ctx, "update-ref", "-d", ref); derr != nil {
			c.log.Warn("forget deleted branch", "project", project, "branch", src.Branch, "err", derr)
		}
		return repo{}, "", fmt.Errorf("fetch %s from %s: %w", src.Branch, rem.url, ErrNoSuchBranch)
	case err != nil:
		return repo{}, "", fmt.Errorf("fetch %s from %s: %w: %w", src.Branch, rem.url, ErrUnreachable, err)
	}
	tip, ok, err := r.resolve(ctx, ref+"^{commit}")
	if err != nil {
		return repo{}, "", err
	}
	if !ok {
		return repo{}, "", fmt.Errorf("fetch %s from %s: %w: no commit at the tip", src.Branch, rem.url, ErrNoSuchBranch)
	}
	return r, tip, nil
}

// ensure creates the checkout on first use and records the remote's URL,
// without credentials. A directory that holds something else is left alone.
func (c *Checkouts) ensure(ctx context.Context, r repo, url string) error {
	if c.root == "" {
		return errors.New("no checkout root configured")
	}
	if fi, err := os.Stat(filepath.Join(r.dir, ".git")); err != nil || !fi.IsDir() {
		if !emptyOrMissing(r.dir) {
			return fmt.Errorf("%s holds something other than a forge checkout", r.dir)
		}
		if err := os.MkdirAll(c.root, 0o700); err != nil {
			return fmt.Errorf("create checkout root: %w", err)
		}
		if _, err := c.run(ctx, "", r.auth, "init", "--quiet", r.dir); err != nil {
			return fmt.Errorf("create checkout: %w", err)
		}
	}
	if _, err := r.run(ctx, "config", "--replace-all", "remote.origin.url", url); err != nil {
		return fmt.Errorf("set remote: %w", err)
	}
	return nil
}

// existing locks the project and opens its checkout for local reads.
func (c *Checkouts) existing(ctx context.Context, project string) (repo, error) {
	unlock, err := c.lock(ctx, project)
	if err != nil {
		return repo{}, err
	}
	dir := filepath.Join(c.root, project)
	if fi, err := os.Stat(filepath.Join(dir, ".git")); err != nil || !fi.IsDir() {
		unlock()
		return repo{}, fmt.Errorf("no checkout of %s yet: sync or fetch first", project)
	}
	return repo{c: c, project: project, dir: dir, unlock: unlock}, nil
}

func emptyOrMissing(dir string) bool {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	return errors.Is(err, io.EOF)
}
