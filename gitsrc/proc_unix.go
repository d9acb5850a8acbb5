//go:build unix

package gitsrc

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts git in its own process group and makes cancelling kill
// the whole group, so a helper it started (ssh, git-remote-https) cannot
// outlive the timeout.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
