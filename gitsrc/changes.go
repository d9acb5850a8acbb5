package gitsrc

import (
	"context"
	"fmt"
	"strings"
)

// OnBranch reports whether commit is reachable from the branch's tip as last
// fetched, so a force-push that removed the running commit reads as false.
// Call Fetch first for the remote's current view.
func (c *Checkouts) OnBranch(ctx context.Context, project, branch, commit string) (bool, error) {
	on, err := c.onBranch(ctx, project, branch, commit)
	if err != nil {
		return false, fmt.Errorf("on branch %s: %w", project, err)
	}
	return on, nil
}

func (c *Checkouts) onBranch(ctx context.Context, project, branch, commit string) (bool, error) {
	if err := validCommit(commit, false); err != nil {
		return false, err
	}
	if err := validBranch(branch); err != nil {
		return false, err
	}
	r, err := c.existing(ctx, project)
	if err != nil {
		return false, err
	}
	defer r.unlock()
	tip, ok, err := r.resolve(ctx, trackingRef(branch))
	if err != nil {
		return false, err
	}
	if !ok {
		return false, fmt.Errorf("%w: %s was never fetched, or is gone", ErrNoSuchBranch, branch)
	}
	sha, ok, err := r.resolve(ctx, commit+"^{commit}")
	if err != nil {
		return false, err
	}
	if !ok {
		return false, fmt.Errorf("%w: %s", ErrNoSuchCommit, commit)
	}
	return r.isAncestor(ctx, sha, tip)
}

// ChangedPaths lists the files, relative to the repository root and
// slash-separated, that differ between two commits: added, removed, modified,
// and both sides of a rename. An empty from means no earlier commit, so every
// file of to is listed.
func (c *Checkouts) ChangedPaths(ctx context.Context, project, from, to string) ([]string, error) {
	paths, err := c.changedPaths(ctx, project, from, to)
	if err != nil {
		return nil, fmt.Errorf("changed paths %s: %w", project, err)
	}
	return paths, nil
}

func (c *Checkouts) changedPaths(ctx context.Context, project, from, to string) ([]string, error) {
	if err := validCommit(from, true); err != nil {
		return nil, err
	}
	if err := validCommit(to, false); err != nil {
		return nil, err
	}
	r, err := c.existing(ctx, project)
	if err != nil {
		return nil, err
	}
	defer r.unlock()
	for _, sha := range []string{from, to} {
		if sha == "" {
			continue
		}
		if _, ok, err := r.resolve(ctx, sha+"^{commit}"); err != nil {
			return nil, err
		} else if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNoSuchCommit, sha)
		}
	}
	args := []string{"diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", from, to, "--"}
	if from == "" {
		args = []string{"ls-tree", "-r", "-z", "--name-only", to, "--"}
	}
	out, err := r.run(ctx, args...)
	if err != nil {
		return nil, err
	}
	var paths []string
	for p := range strings.SplitSeq(out, "\x00") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// AnyUnder reports whether any of paths, as ChangedPaths returns them, lies in
// dir, a slash-separated directory relative to the repository root; "" and
// "." mean the whole repository.
func AnyUnder(paths []string, dir string) bool {
	dir = cleanSlash(dir)
	for _, p := range paths {
		if dir == "." || p == dir || strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}
