//go:build unix && !linux

package exec

import (
	"os/exec"
	"syscall"
)

// ownGroup makes cmd lead a process group of its own and, when its context
// ends, kills that whole group, so that the children it started go too.
// Outside Linux, a program outlives a hookd that dies mid-attempt: the
// restarted hookd's next attempt may then run beside it.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd) }
}

// run starts cmd and waits for it.
func run(cmd *exec.Cmd) (start, wait error) {
	if err := cmd.Start(); err != nil {
		return err, nil
	}
	return nil, cmd.Wait()
}
