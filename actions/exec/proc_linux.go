package exec

import (
	"os/exec"
	"runtime"
	"syscall"
)

// ownGroup makes cmd lead a process group of its own and, when its context
// ends, kills that whole group, so that the children it started go too.
// It also has the kernel kill the program (SIGKILL) when hookd dies: a
// hookd killed mid-attempt (kill -9, the OOM killer, a crash) restarts and
// runs the job's next attempt, which must not run beside an orphaned one.
// The kernel's parent-death signal reaches the program only, not its own
// children: a program whose children must not outlive it exec's its last
// command, or gives them a parent-death signal of their own.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd) }
}

// run starts cmd and waits for it, on one OS thread held for all that time.
// Linux sends the parent-death signal when the thread that started the
// program ends, not the process (https://go.dev/issue/27505): a thread of
// the Go runtime's pool may end once a goroutine that locked it exits
// without unlocking it, which would kill a program still running. Locked
// to this goroutine until the program ended, the thread cannot end
// earlier, unless hookd does.
func run(cmd *exec.Cmd) (start, wait error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err, nil
	}
	return nil, cmd.Wait()
}
