//go:build unix

package exec

import (
	"os/exec"
	"syscall"
)

// ownGroup makes cmd lead a process group of its own and, when its context
// ends, kills that whole group, so that the children it started go too.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
