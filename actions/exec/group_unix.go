//go:build unix

package exec

import (
	"os/exec"
	"syscall"
)

// killGroup kills (SIGKILL) what runs in the process group that cmd, run
// by ownGroup, leads: the program's children, after the program ended or
// with it. A group with no process left is none of its business: the
// kernel keeps a group's id from being given to a new process while the
// group has a member.
func killGroup(cmd *exec.Cmd) error {
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
