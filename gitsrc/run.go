package gitsrc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// gitError is a git call that failed: a non-zero exit, a timeout, or a binary
// that would not start. Its message carries git's last stderr lines with every
// secret of the call removed.
type gitError struct {
	cmd     string        // the git subcommand, e.g. "fetch"
	code    int           // exit code; -1 if git did not exit on its own
	stderr  string        // git's last stderr lines, scrubbed
	timeout time.Duration // set when the call ran out of time
	err     error
}

func (e *gitError) Error() string {
	if e.timeout > 0 {
		return fmt.Sprintf("git %s: timed out after %s", e.cmd, e.timeout)
	}
	if e.stderr == "" {
		return fmt.Sprintf("git %s: %v", e.cmd, e.err)
	}
	return fmt.Sprintf("git %s: %s", e.cmd, e.stderr)
}

func (e *gitError) Unwrap() error { return e.err }

// exitCode is err's git exit code, or -1 if err is not a git exit.
func exitCode(err error) int {
	var ge *gitError
	if errors.As(err, &ge) {
		return ge.code
	}
	return -1
}

// maxStderr bounds how much of git's stderr is kept; a hostile server's
// "remote:" lines cannot fill memory.
const maxStderr = 64 << 10

// run runs git with the call's credentials. A non-empty dir names the
// checkout: git gets its repository and work tree explicitly, so it never
// looks for one above Root.
func (c *Checkouts) run(ctx context.Context, dir string, a auth, args ...string) (string, error) {
	sub := args[0]
	cmdArgs := args
	workDir := c.root
	if dir != "" {
		cmdArgs = append([]string{"--git-dir=" + filepath.Join(dir, ".git"), "--work-tree=" + dir}, args...)
		workDir = dir
	}
	tctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, c.git, cmdArgs...)
	cmd.Dir = workDir
	cmd.Env = gitEnv(os.Environ(), a)
	cmd.WaitDelay = 2 * time.Second
	setProcessGroup(cmd)
	var stdout bytes.Buffer
	stderr := &capped{max: maxStderr}
	cmd.Stdout, cmd.Stderr = &stdout, stderr

	start := time.Now()
	err := cmd.Run()
	c.log.Debug("git", "args", strings.Join(args, " "), "dir", dir, "took", time.Since(start), "failed", err != nil)
	switch {
	case err == nil:
		return stdout.String(), nil
	case ctx.Err() != nil:
		return "", fmt.Errorf("git %s: %w", sub, ctx.Err())
	case tctx.Err() != nil:
		return "", &gitError{cmd: sub, code: -1, timeout: c.timeout, err: context.DeadlineExceeded}
	}
	ge := &gitError{cmd: sub, code: -1, err: err, stderr: lastLines(scrubCut(stderr.buf.String(), stderr.cut, a.secrets))}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ge.code = ee.ExitCode()
	}
	return "", ge
}

// gitEnv is the environment of every git call: the process's, without
// anything that would point git elsewhere, prompt, trace or change its
// language, plus forge's fixed settings and the call's credentials.
func gitEnv(base []string, a auth) []string {
	keep := []string{"GIT_EXEC_PATH", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM"}
	drop := []string{"SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "LC_ALL", "LANGUAGE"}
	env := make([]string, 0, len(base)+16)
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GIT_") && !slices.Contains(keep, k) || slices.Contains(drop, k) {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"LC_ALL=C", // stable messages, for classifying errors
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=", // empty stops git from falling back to core.askPass or SSH_ASKPASS
		"GIT_ALLOW_PROTOCOL=file:git:http:https:ssh",
	)
	// Settings that beat the daemon user's own git config: no hooks, no
	// fsmonitor daemon, no credential helper that could prompt or open a
	// browser, no garbage collection left running in the background.
	settings := [][2]string{
		{"core.hooksPath", os.DevNull},
		{"core.fsmonitor", "false"},
		{"credential.helper", ""},
		{"gc.autoDetach", "false"},
		{"advice.detachedHead", "false"},
	}
	settings = append(settings, a.config...)
	env = append(env, a.env...)
	for i, s := range settings {
		is := strconv.Itoa(i)
		env = append(env, "GIT_CONFIG_KEY_"+is+"="+s[0], "GIT_CONFIG_VALUE_"+is+"="+s[1])
	}
	return append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(settings)))
}

// boilerplate is git's advice after a failed connection, which would push the
// line that says why out of an error message.
var boilerplate = []string{"Please make sure you have the correct access rights", "and the repository exists."}

// lastLines keeps git's last three meaningful stderr lines, joined, for an
// error message; hints, advice and blank lines go.
func lastLines(s string) string {
	var lines []string
	for l := range strings.Lines(s) {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "hint:") || slices.Contains(boilerplate, l) {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, "; ")
}

// capped is a writer that keeps the first max bytes and drops the rest.
type capped struct {
	buf bytes.Buffer
	max int
	cut bool
}

func (w *capped) Write(p []byte) (int, error) {
	n := len(p)
	if room := w.max - w.buf.Len(); room < len(p) {
		w.cut = true
		p = p[:max(room, 0)]
	}
	w.buf.Write(p)
	return n, nil // claim all, so git is never told its stderr broke
}
