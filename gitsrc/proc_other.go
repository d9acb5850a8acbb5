//go:build !unix

package gitsrc

import "os/exec"

// setProcessGroup leaves the default: cancelling kills git itself, and
// WaitDelay stops waiting for helpers that hold its pipes.
func setProcessGroup(cmd *exec.Cmd) {}
